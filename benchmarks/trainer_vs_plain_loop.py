"""t2x's trainer against a plain hand-written ``tf.function`` loop, side by side.

    python benchmarks/trainer_vs_plain_loop.py --data_dir=DIR [--model=shake_shake]
        [--hparams_set=shake_shake_quick] [--steps=60] [--warmup_steps=10] [--rounds=3]

``DIR`` holds image_mnist's shards (``t2x-datagen --problem=image_mnist``). Both variants
train the same registered model with the same hparams, optimizer, schedule and input
pipeline (``problem.dataset``); they alternate (t2x, plain, t2x, plain, ...) so that the
noise of a shared machine falls on both. Each round times ``steps - warmup_steps`` steps
after a warm-up that includes tracing:

* t2x: ``Trainer.train()`` in a fresh output_dir, the whole loop as users run it
  (per-step NaN check, progress lines, summaries, gradient clipping, weight decay); its
  rate is read from its own ``steps_per_sec`` summaries of the blocks after the warm-up
  (``log_every = warmup_steps``), so the final checkpoint write is not counted.
* plain: ``iterator -> tape -> model.loss_fn (+ the same L2 weight decay) -> the same
  global-norm clipping -> apply_gradients`` in one ``tf.function``, nothing else: the same
  training, without the trainer's machinery.

Prints the ratio t2x / plain of steps/s per round and its median (the issue asks >= 0.97),
then one JSON line.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--problem", default="image_mnist")
    parser.add_argument("--model", default="shake_shake")
    parser.add_argument("--hparams_set", default="shake_shake_quick")
    parser.add_argument("--hparams", default="")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup_steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.steps % args.warmup_steps:
        parser.error("--steps must be a multiple of --warmup_steps")

    import tensorflow as tf
    from absl import logging as absl_logging
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator, TENSORS

    from t2x import registry
    from t2x.hparam import create_hparams
    from t2x.data.problem import Mode
    from t2x.training import optimizers
    from t2x.training.learning_rate import T2XLearningRate
    from t2x.training.trainer import Trainer

    absl_logging.set_verbosity(absl_logging.WARNING)
    problem = registry.problem(args.problem)
    work = tempfile.mkdtemp(prefix="t2x_loop_bench_")

    def run_t2x(round_index):
        out = os.path.join(work, f"t2x_{round_index}")
        hp = create_hparams(args.hparams_set, args.hparams)
        trainer = Trainer(problem=problem, model_name=args.model, hparams=hp,
                          hparams_set=args.hparams_set, data_dir=args.data_dir, output_dir=out,
                          train_steps=args.steps, save_checkpoints_steps=10 ** 9,
                          log_every=args.warmup_steps, num_summary_images=0)
        trainer.train()
        events = EventAccumulator(os.path.join(out, "train"), size_guidance={TENSORS: 0}).Reload()
        rates = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in events.Tensors("steps_per_sec")]
        timed = [r for step, r in rates if step > args.warmup_steps]
        # Blocks are equal in steps: the block rate is the harmonic mean of block rates.
        return len(timed) / sum(1.0 / r for r in timed)

    def run_plain(round_index):
        del round_index
        hp = create_hparams(args.hparams_set, args.hparams)
        model = registry.model(args.model)(hp, problem.get_hparams(hp))
        optimizer = optimizers.make_optimizer(hp, T2XLearningRate(hp, args.steps))
        ds = problem.dataset(Mode.TRAIN, args.data_dir, hp, batch_size=hp.batch_size, seed=1,
                             deterministic=True)
        iterator = iter(ds)

        @tf.function
        def step():
            features = next(iterator)
            with tf.GradientTape() as tape:
                logits = model(features, training=True)
                num, den = model.loss_fn(logits, features)
                loss = num / den
                if hp.weight_decay:  # the same training: T2T's L2 term, biases skipped
                    loss += hp.weight_decay * tf.add_n(
                        [tf.nn.l2_loss(v) for v in model.trainable_variables
                         if not (len(v.shape) == 1 and v.path.endswith(("bias", "beta")))])
            grads = tape.gradient(loss, model.trainable_variables)
            if hp.clip_grad_norm:
                grads, _ = tf.clip_by_global_norm(grads, hp.clip_grad_norm)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        for _ in range(args.warmup_steps):
            step()
        start = time.perf_counter()
        for _ in range(args.steps - args.warmup_steps):
            loss = step()
        loss.numpy()
        return (args.steps - args.warmup_steps) / (time.perf_counter() - start)

    results = {"t2x": [], "plain": []}
    try:
        for r in range(args.rounds):
            results["t2x"].append(run_t2x(r))
            results["plain"].append(run_plain(r))
            print(f"round {r + 1}/{args.rounds}: t2x {results['t2x'][-1]:.3f} steps/s, "
                  f"plain {results['plain'][-1]:.3f} steps/s, ratio "
                  f"{results['t2x'][-1] / results['plain'][-1]:.3f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [a / b for a, b in zip(results["t2x"], results["plain"])]
    median = statistics.median(ratios)
    print(f"t2x trainer / plain tf.function loop, steps/s: median {median:.3f} "
          f"(rounds {', '.join(f'{x:.3f}' for x in ratios)}); {args.model}/{args.hparams_set}, "
          f"batch {create_hparams(args.hparams_set, args.hparams).batch_size}, "
          f"{args.steps - args.warmup_steps} timed steps a round")
    print("JSON " + json.dumps({"benchmark": "trainer_vs_plain_loop", "model": args.model,
                                "hparams_set": args.hparams_set, "ratios": ratios,
                                "median_ratio": median, "steps_per_sec": results}))


if __name__ == "__main__":
    main()
