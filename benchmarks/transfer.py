"""Reuse of an exported body: does it learn a new image task faster than from scratch, and
is the cached-bottleneck path as accurate and faster?

    python benchmarks/transfer.py --mnist_dir=../shared/data/mnist [--steps=600] [--target_train=1000]

Two tasks from real MNIST: the source task is digits 0-4 (all their training images), the
target task digits 5-9 with only ``--target_train`` training images (its dev set: all 5-9
test images). A ``basic_fc_small`` model is trained on the source and exported
(``t2x-exporter``); on the target, side by side, with the same steps and evaluations:

* scratch      ``basic_fc_relu`` / ``basic_fc_small`` from random weights;
* warm start   the same, ``--warm_start_from`` the source run (all weights match by name);
* frozen       ``saved_model_classifier``: the export's ``features`` + a new top;
* fine-tuned   the same with ``fine_tune_features=true``;
* bottlenecks  ``saved_model_classifier`` on ``image_bottlenecks`` (features computed once).

Prints dev accuracy at each evaluation for every arm, and the frozen vs bottleneck training
time ratio (the same top, the same steps, measured in this one run).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

USR = '''
from t2x import registry
from t2x.data.image import IdxImage2ClassProblem, idx_sources, read_idx
from t2x.data.problem import DatasetSplit
from t2x.problems.mnist import MNIST_FILES, MNIST_MIRRORS


class _Digits(IdxImage2ClassProblem):
    digits = ()
    max_train = 0
    source_files = idx_sources(MNIST_FILES, MNIST_MIRRORS)

    @property
    def class_labels(self):
        return tuple(str(d) for d in self.digits)

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        images_path, labels_path = self._paths(tmp_dir, dataset_split)
        n = 0
        for image, label in zip(read_idx(images_path), read_idx(labels_path)):
            label = int(label)
            if label not in self.digits:
                continue
            if dataset_split == DatasetSplit.TRAIN and self.max_train and n >= self.max_train:
                return
            n += 1
            yield image, self.digits.index(label)


@registry.register_problem
class ImageMnistLow(_Digits):
    """Digits 0-4."""
    digits = (0, 1, 2, 3, 4)


@registry.register_problem
class ImageMnistHigh(_Digits):
    """Digits 5-9, few training images."""
    digits = (5, 6, 7, 8, 9)
    max_train = {target_train}
    train_shards = 2
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist_dir", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--source_steps", type=int, default=2000)
    parser.add_argument("--target_train", type=int, default=1000)
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    root = args.work_dir or tempfile.mkdtemp(prefix="t2x_transfer_")
    raw, data = os.path.join(root, "raw"), os.path.join(root, "data")
    os.makedirs(raw, exist_ok=True)
    for name in os.listdir(args.mnist_dir):
        if name.endswith(".gz"):
            shutil.copy(os.path.join(args.mnist_dir, name), raw)
    usr = os.path.join(root, "transfer_usr")
    os.makedirs(usr, exist_ok=True)
    with open(os.path.join(usr, "__init__.py"), "w") as f:
        f.write(USR.format(target_train=args.target_train))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    common = [f"--t2x_usr_dir={usr}", f"--data_dir={data}", f"--tmp_dir={raw}", "--eval_steps=0"]

    def trainer(name, *extra, steps=args.steps):
        out = os.path.join(root, name)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_trainer", *common, f"--output_dir={out}",
                               f"--train_steps={steps}", f"--eval_every={args.eval_every}",
                               f"--save_checkpoints_steps={steps}", *extra],
                              capture_output=True, text=True, env=env)
        if proc.returncode:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        curve = [(int(s), float(a)) for s, a in re.findall(r"eval at step (\d+) .*?accuracy ([0-9.]+)", proc.stderr)]
        trained = re.findall(r"Trained \d+ steps in (\d+)m(\d+)s", proc.stderr)
        train_seconds = sum(int(m) * 60 + int(s) for m, s in trained)
        return out, curve, time.monotonic() - start, train_seconds

    source, curve, _, _ = trainer("source", "--problem=image_mnist_low", "--model=basic_fc_relu",
                                  "--hparams_set=basic_fc_small", steps=args.source_steps)
    print(f"source (digits 0-4): dev accuracy {curve[-1][1]:.4f} after {args.source_steps} steps")
    proc = subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_exporter", f"--output_dir={source}",
                           f"--export_dir={root}/export"], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    extractor = os.path.join(root, "export", "saved_model")
    arms = {
        "scratch": ("--problem=image_mnist_high", "--model=basic_fc_relu", "--hparams_set=basic_fc_small"),
        "warm start": ("--problem=image_mnist_high", "--model=basic_fc_relu", "--hparams_set=basic_fc_small",
                       f"--warm_start_from={source}"),
        "frozen": ("--problem=image_mnist_high", "--model=saved_model_classifier",
                   f"--hparams=feature_extractor={extractor}"),
        "fine-tuned": ("--problem=image_mnist_high", "--model=saved_model_classifier",
                       f"--hparams=feature_extractor={extractor},fine_tune_features=true"),
        "bottlenecks": ("--problem=image_bottlenecks", "--model=saved_model_classifier",
                        "--gin_param=ImageBottlenecks.source_problem='image_mnist_high'",
                        f"--gin_param=ImageBottlenecks.feature_extractor='{extractor}'"),
    }
    # the bottleneck cache is built once, before it is timed: generate it with a 1-step run
    trainer("bottlenecks_warmup", *arms["bottlenecks"], steps=1)
    results = {name: trainer(name.replace(" ", "_"), *flags) for name, flags in arms.items()}
    steps = [s for s, _ in results["scratch"][1]]
    print(f"target (digits 5-9, {args.target_train} training images): dev accuracy by step")
    print("| arm | " + " | ".join(str(s) for s in steps) + " | train time (s) |")
    print("|---|" + "---|" * (len(steps) + 1))
    for name, (_, curve, _, seconds) in results.items():
        by_step = dict(curve)
        print(f"| {name} | " + " | ".join(f"{by_step.get(s, float('nan')):.4f}" for s in steps) + f" | {seconds} |")
    frozen, cached = results["frozen"][3], results["bottlenecks"][3]
    print(f"training the same top for {args.steps} steps: bottlenecks took {cached} s, frozen extractor {frozen} s "
          f"({frozen / max(cached, 1):.2f}x faster from the cache; reported at 1 s resolution)")


if __name__ == "__main__":
    main()
