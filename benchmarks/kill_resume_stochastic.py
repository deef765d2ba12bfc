"""SIGKILL a stochastic training run at 20 random moments, resume after each, and compare
the final weights with an uninterrupted run.

    python benchmarks/kill_resume_stochastic.py --kills=20 --seed=0

The run: ``transformer`` / ``transformer_test`` with dropout 0.3 (layer, attention and
ReLU dropout) on ``tiny_algo``, checkpoint every 5 steps, evaluation every 20 (so that
kills land in steps, in checkpoint writes and in evaluations), 60 steps. Every attempt is
killed at a random moment after it starts training (``--kills`` times; the moment is drawn
uniformly in [0, --max_delay] s after its first progress line), then the same command runs
to the end; when an attempt reaches the last step, that run's final weights are compared
with the uninterrupted run's and a new run starts for the remaining kills. Each kill is reported with where it landed: during a step, a checkpoint write
(a ``*_temp`` checkpoint folder present) or an evaluation (an "evaluating" line not yet
followed by its result). A SIGKILL in a checkpoint write can leave its ``*_temp`` folder
behind; only folders new in the attempt count. The SIGKILLed trainer leaves its lock behind: every rerun takes
it over. Exit status 0 when every weight of the final checkpoint equals the uninterrupted
run's (max |difference| 0).
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

STEPS = 60
PROGRESS = re.compile(rf"\bstep (\d+)/{STEPS}: loss")  # the trainer's progress line


def trainer_cmd(data_dir, out_dir):
    return [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--problem=tiny_algo", "--model=transformer",
            "--hparams_set=transformer_test", f"--data_dir={data_dir}", f"--output_dir={out_dir}",
            f"--train_steps={STEPS}", "--save_checkpoints_steps=5", "--eval_every=20", "--eval_steps=2",
            "--log_every=1", "--hparams=batch_size=128,layer_prepostprocess_dropout=0.3,"
            "attention_dropout=0.3,relu_dropout=0.3"]


def final_weights(out_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(out_dir))
    names = sorted(k for k in reader.get_variable_to_shape_map() if k.startswith("model_weights/"))
    return {k: reader.get_tensor(k) for k in names}


def temp_folders(out_dir):
    """The ``*_temp`` folders of checkpoint writes in progress (or left by a killed one)."""
    return {n for n in os.listdir(out_dir) if n.endswith("_temp")} if os.path.isdir(out_dir) else set()


def phase(out_dir, lines, temps_at_start):
    if temp_folders(out_dir) - temps_at_start:
        return "checkpoint write"
    started = [i for i, line in enumerate(lines) if "evaluating at step" in line]
    done = [i for i, line in enumerate(lines) if "eval at step" in line]
    if started and (not done or done[-1] < started[-1]):
        return "evaluation"
    if any(PROGRESS.search(line) for line in lines):
        return "step"
    return "start-up"


def killed_attempt(cmd, env, out_dir, rng, max_delay):
    """Runs ``cmd`` until a random moment after its first progress line, then SIGKILLs it.
    Returns (where the kill landed, the last step logged), or None when it finished first."""
    temps_at_start = temp_folders(out_dir)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, first_step = [], threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if PROGRESS.search(line):
                first_step.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not first_step.wait(0.05):
        if proc.poll() is not None:
            return None
    time.sleep(rng.uniform(0, max_delay))
    if proc.poll() is not None:
        return None
    where = phase(out_dir, list(lines), temps_at_start)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(timeout=5)
    steps = [int(m.group(1)) for line in lines if (m := PROGRESS.search(line))]
    return where, (steps[-1] if steps else 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_delay", type=float, default=1.5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="t2x_kill20_")
    env = dict(os.environ, T2X_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    try:
        data = os.path.join(work, "data")
        subprocess.run([sys.executable, "-m", "t2x.scripts.t2x_datagen", "--problem=tiny_algo",
                        f"--data_dir={data}"], env=env, check=True, capture_output=True)
        ref, run = os.path.join(work, "ref"), os.path.join(work, "run")
        subprocess.run(trainer_cmd(data, ref), env=env, check=True, capture_output=True)
        reference = final_weights(ref)
        kills, diffs, pending = [], [], 0

        def compare():
            weights = final_weights(run)
            assert set(weights) == set(reference), "the runs hold different weights"
            diffs.append((pending, max(float(np.max(np.abs(reference[k] - weights[k]))) for k in reference)))
            print(f"run {len(diffs)} reached step {STEPS} after {pending} kills: max |final - uninterrupted| "
                  f"= {diffs[-1][1]}", flush=True)

        while len(kills) < args.kills:
            result = killed_attempt(trainer_cmd(data, run), env, run, rng, args.max_delay)
            if result is None:  # it finished: compare, then start a new run for the remaining kills
                compare()
                shutil.rmtree(run)
                pending = 0
                continue
            kills.append(result)
            pending += 1
            print(f"kill {len(kills):2d}: during a {result[0]:16s} (last step logged {result[1]})", flush=True)
        final = subprocess.run(trainer_cmd(data, run), env=env, capture_output=True, text=True)
        assert final.returncode == 0, final.stderr[-3000:]
        took_over = "Taking over the lock" in final.stderr
        compare()
        where = {}
        for w, _ in kills:
            where[w] = where.get(w, 0) + 1
        worst = max(d for _, d in diffs)
        print(f"{len(kills)} kills ({', '.join(f'{n} during a {w}' for w, n in sorted(where.items()))}) over "
              f"{len(diffs)} runs to step {STEPS}; each run's final weights against the uninterrupted run's "
              f"({len(reference)} tensors): max |difference| = {worst}; stale lock taken over: {took_over}")
        sys.exit(0 if worst == 0.0 else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
