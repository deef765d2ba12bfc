"""Kill t2x-datagen mid-way on real MNIST, re-run it, check the shards.

    python benchmarks/mnist_kill_resume.py --mnist_dir=../shared/data/mnist

1. an uninterrupted reference run; 2. a run killed (SIGKILL) the moment its first train
shard is committed, i.e. mid-way through writing the train split; 3. the same command
again. Prints what the killed run left (complete shards only, never a partial one under a
final name), then checks that the resumed shards are byte-identical to the reference and
hold 60,000 train and 10,000 dev examples.
"""

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def datagen_cmd(data_dir, tmp_dir):
    return [sys.executable, "-m", "t2x.scripts.t2x_datagen", "--problem=image_mnist",
            f"--data_dir={data_dir}", f"--tmp_dir={tmp_dir}"]


def main():
    parser = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--mnist_dir", default=os.path.join(root, "..", "shared", "data", "mnist"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="t2x_kill_")
    env = dict(os.environ, T2X_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    try:
        tmp_dir = os.path.join(work, "tmp")
        shutil.copytree(args.mnist_dir, tmp_dir)
        ref, data = os.path.join(work, "ref"), os.path.join(work, "data")
        subprocess.run(datagen_cmd(ref, tmp_dir), env=env, check=True, capture_output=True)
        proc = subprocess.Popen(datagen_cmd(data, tmp_dir), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if os.path.isdir(data) and any("-train-" in f and ".tmp-" not in f for f in os.listdir(data)):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait()
        left = sorted(os.listdir(data))
        finals = [f for f in left if ".tmp-" not in f]
        print(f"killed run left {len(finals)} complete shard(s) and {len(left) - len(finals)} "
              f"temporary file(s): {left}")
        for f in finals:
            assert sha(os.path.join(data, f)) == sha(os.path.join(ref, f)), f"{f} differs"
        out = subprocess.run(datagen_cmd(data, tmp_dir), env=env, check=True, capture_output=True,
                             text=True).stdout
        print("re-run:", out.strip().replace("\n", " | "))
        assert sorted(os.listdir(data)) == sorted(os.listdir(ref)), "leftover or missing files"
        for f in os.listdir(ref):
            assert sha(os.path.join(data, f)) == sha(os.path.join(ref, f)), f"{f} differs"
        import tensorflow as tf
        counts = {split: sum(1 for f in os.listdir(data) if f"-{split}-" in f
                             for _ in tf.data.TFRecordDataset(os.path.join(data, f)))
                  for split in ("train", "dev")}
        print(f"after resume: byte-identical to the uninterrupted run; examples {counts}")
        assert counts == {"train": 60000, "dev": 10000}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
