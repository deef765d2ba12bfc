"""Packed vs unpacked training batches of the Transformer, side by side on real corpora.

    python benchmarks/packing.py --multi30k_dir=../shared/data/multi30k \
        --ptb_dir=../shared/data/ptb --data_dir=/tmp/t2x_pack_data \
        [--hparams_set=transformer_small] [--packed_length=0] [--steps=40] \
        [--warmup_steps=10] [--rounds=2] [--fill_batches=200]

For ``translate_ende_multi30k`` and ``languagemodel_ptb10k`` (shards generated into
``--data_dir`` from the raw files when missing), with the same hparams set and token budget
(``batch_size``) except ``packed``:

* **fill**: the fraction of non-padding target (and input) positions over the first
  ``--fill_batches`` training batches of ``problem.dataset`` (length-bucketed vs packed rows);
* **speed**: ``Trainer.train()`` in a fresh output_dir, ``--steps`` steps, the two variants
  alternating round by round (unpacked, packed, unpacked, ...) so that a shared machine's
  noise falls on both; the rate is the trainer's own ``tokens_per_sec`` summary (real target
  tokens per second: padding is not counted) over the blocks after ``--warmup_steps``.

Prints per-round figures, the packed/unpacked ratios, then one JSON line.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_utils import summary_values  # noqa: E402

PROBLEMS = {"translate_ende_multi30k": "multi30k_dir", "languagemodel_ptb10k": "ptb_dir"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--multi30k_dir", required=True)
    parser.add_argument("--ptb_dir", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--hparams_set", default="transformer_small")
    parser.add_argument("--hparams", default="", help="extra overrides for both variants")
    parser.add_argument("--packed_length", type=int, default=0, help="0: max_length (256)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fill_batches", type=int, default=200)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    args = parser.parse_args()

    import numpy as np
    from absl import logging as absl_logging

    from t2x import registry
    from t2x.data.problem import Mode
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer

    absl_logging.set_verbosity(absl_logging.WARNING)
    work = tempfile.mkdtemp(prefix="t2x_pack_bench_")
    variants = {"unpacked": "packed=false", "packed": f"packed=true,packed_length={args.packed_length}"}

    def hparams_of(variant):
        overrides = ",".join(x for x in (args.hparams, variants[variant]) if x)
        return create_hparams(args.hparams_set, overrides)

    def fill(problem, variant):
        hp = hparams_of(variant)
        ds = problem.dataset(Mode.TRAIN, args.data_dir, hp, batch_size=hp.batch_size, seed=1,
                             deterministic=True)
        real = {"inputs": 0, "targets": 0}
        total = dict(real)
        for batch in ds.take(args.fill_batches):
            for key in real:
                if key in batch:
                    ids = batch[key].numpy()
                    real[key] += int((ids != 0).sum())
                    total[key] += ids.size
        return {k: real[k] / total[k] for k in real if total[k]}

    def speed(problem, name, variant, round_index):
        out = os.path.join(work, f"{name}_{variant}_{round_index}")
        trainer = Trainer(problem=problem, model_name="transformer", hparams=hparams_of(variant),
                          hparams_set=args.hparams_set, data_dir=args.data_dir, output_dir=out,
                          train_steps=args.steps, save_checkpoints_steps=10 ** 9,
                          log_every=args.warmup_steps, num_summary_images=0)
        trainer.train()
        timed = summary_values(out, "tokens_per_sec", after_step=args.warmup_steps)
        shutil.rmtree(out, ignore_errors=True)
        return float(np.mean(timed))  # equal-step blocks: tokens differ, so the arithmetic mean

    results = {}
    try:
        for name in args.problems.split(","):
            problem = registry.problem(name)
            raw = os.path.join(work, "raw_" + name)
            shutil.copytree(getattr(args, PROBLEMS[name]), raw)
            problem.generate_data(args.data_dir, raw)
            result = {"fill": {v: fill(problem, v) for v in variants}, "tokens_per_sec": {v: [] for v in variants}}
            print(f"{name}: non-padding fraction {json.dumps(result['fill'])}", flush=True)
            for r in range(args.rounds):
                for variant in variants:
                    result["tokens_per_sec"][variant].append(speed(problem, name, variant, r))
                rates = {v: result["tokens_per_sec"][v][-1] for v in variants}
                print(f"{name} round {r + 1}/{args.rounds}: unpacked {rates['unpacked']:.0f}, packed "
                      f"{rates['packed']:.0f} target tokens/s, ratio {rates['packed'] / rates['unpacked']:.3f}",
                      flush=True)
            ratios = [p / u for p, u in zip(result["tokens_per_sec"]["packed"], result["tokens_per_sec"]["unpacked"])]
            result["ratios"] = ratios
            result["median_ratio"] = statistics.median(ratios)
            results[name] = result
            print(f"{name}: packed / unpacked target tokens/s: median {result['median_ratio']:.3f} "
                  f"(rounds {', '.join(f'{x:.3f}' for x in ratios)}); targets non-padding "
                  f"{result['fill']['unpacked']['targets']:.3f} -> {result['fill']['packed']['targets']:.3f}",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("JSON " + json.dumps({"benchmark": "packing", "hparams_set": args.hparams_set,
                                "hparams": args.hparams, "packed_length": args.packed_length,
                                "steps": args.steps, "results": results}))


if __name__ == "__main__":
    main()
