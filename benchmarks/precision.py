"""float32 vs bfloat16 vs XLA training steps, side by side, on this machine.

    python benchmarks/precision.py --mnist_dir=../shared/data/mnist \
        --multi30k_dir=../shared/data/multi30k --data_dir=/tmp/t2x_prec_data \
        [--variants=float32,bfloat16,xla,bfloat16_xla] [--steps=30] [--warmup_steps=10] [--rounds=2]

Two workloads: ``shake_shake``/``shake_shake_quick`` on ``image_mnist`` (steps/s, batch 100)
and ``transformer``/``transformer_small`` on ``translate_ende_multi30k`` (target tokens/s,
4096-token batches). Each variant is ``Trainer.train()`` in a fresh output_dir with the same
data, seed and hparams but ``activation_dtype`` (``bfloat16``: Keras ``mixed_bfloat16``)
and ``xla`` (``jit_compile``); variants alternate within each round so that a shared
machine's noise falls on all of them. The rate is the trainer's own summary (``steps_per_sec``
or ``tokens_per_sec``) over the blocks after ``--warmup_steps`` (tracing and XLA compilation
excluded). Prints each round, the ratios to float32 (median over rounds), then a JSON line.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_utils import summary_values  # noqa: E402

VARIANTS = {"float32": ("float32", False), "bfloat16": ("bfloat16", False), "float16": ("float16", False),
            "xla": ("float32", True), "bfloat16_xla": ("bfloat16", True)}
WORKLOADS = {
    "shake_shake_mnist": dict(problem="image_mnist", model="shake_shake", hparams_set="shake_shake_quick",
                              raw="mnist_dir", summary="steps_per_sec", hparams=""),
    "transformer_small_multi30k": dict(problem="translate_ende_multi30k", model="transformer",
                                       hparams_set="transformer_small", raw="multi30k_dir",
                                       summary="tokens_per_sec", hparams="max_length=100"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist_dir", required=True)
    parser.add_argument("--multi30k_dir", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--variants", default="float32,bfloat16,xla,bfloat16_xla")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    from absl import logging as absl_logging

    from t2x import registry
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    absl_logging.set_verbosity(absl_logging.WARNING)
    variants = args.variants.split(",")
    work = tempfile.mkdtemp(prefix="t2x_prec_bench_")
    results = {}
    try:
        for name in args.workloads.split(","):
            w = WORKLOADS[name]
            problem = registry.problem(w["problem"])
            raw = os.path.join(work, "raw_" + name)
            shutil.copytree(getattr(args, w["raw"]), raw)
            problem.generate_data(args.data_dir, raw)
            rates = {v: [] for v in variants}
            for r in range(args.rounds):
                for variant in variants:
                    dtype, xla = VARIANTS[variant]
                    overrides = ",".join(x for x in (w["hparams"], f"activation_dtype={dtype}") if x)
                    out = os.path.join(work, f"{name}_{variant}_{r}")
                    trainer = Trainer(problem=problem, model_name=w["model"],
                                      hparams=create_hparams(w["hparams_set"], overrides),
                                      hparams_set=w["hparams_set"], data_dir=args.data_dir, output_dir=out,
                                      train_steps=args.steps, save_checkpoints_steps=10 ** 9,
                                      log_every=args.warmup_steps, num_summary_images=0, xla=xla)
                    trainer.train()
                    timed = summary_values(out, w["summary"], after_step=args.warmup_steps)
                    rates[variant].append(float(np.mean(timed)))
                    shutil.rmtree(out, ignore_errors=True)
                print(f"{name} round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{v} {rates[v][-1]:.2f}" for v in variants) + f" ({w['summary']})", flush=True)
            ratios = {v: statistics.median(a / b for a, b in zip(rates[v], rates["float32"]))
                      for v in variants if "float32" in rates}
            results[name] = {"rates": rates, "median_ratio_to_float32": ratios}
            print(f"{name}: ratio to float32 (median over rounds): " +
                  ", ".join(f"{v} {x:.2f}x" for v, x in ratios.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("JSON " + json.dumps({"benchmark": "precision", "steps": args.steps, "results": results}))


if __name__ == "__main__":
    main()
