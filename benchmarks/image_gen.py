"""Image generation on MNIST, side by side: bits per dimension of the per-pixel marginal
baseline (and of a trained run, when given) on the 10,000 test images, and sampling speed
with and without the image transformer's cache (alternated rounds, the ratio of medians).

    # from the repository root
    python benchmarks/image_gen.py [--mnist_dir=../shared/data/mnist] [--output_dir=RUN] \\
        [--num_samples=4] [--rounds=3] [--hparams_set=imagetransformer_tiny]

* **Marginal baseline**: a categorical over 0..255 per pixel position (784 of them),
  fitted on the 60,000 training images with add-``--alpha`` smoothing (default 1), scored on
  the test images: the mean over test sub-pixels of ``-log2 p_position(value)``. It knows
  where digits usually have ink, nothing of the image around a pixel.
* **A trained run** (``--output_dir``, an ``imagetransformer`` run of ``image_mnist_gen`` or
  ``image_mnist_gen_conditional``): its checkpoint's teacher-forced bits/dim on the same
  test images (``t2x.metrics``' ``bits_per_dim``, the evaluator's code), batch ``--batch_size``.
* **Sampling speed**: ``--num_samples`` images (one batch) sampled by ``model.infer`` with
  ``use_cache`` True and False, alternated ``--rounds`` times after one warm-up each (the
  trace): samples/s of each and the ratio. The model is the run's, or an untrained
  ``--hparams_set`` (speed does not depend on the weights).

Prints a table and one ``JSON {...}`` line. Reads the IDX files only (no shards, no network).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def marginal_bits_per_dim(train: np.ndarray, test: np.ndarray, alpha: float = 1.0) -> float:
    """Bits/dim on ``test`` ``[N, H, W]`` of per-position categoricals fitted on ``train``."""
    positions = train.shape[1] * train.shape[2]
    flat_train = train.reshape(len(train), positions).astype(np.int64)
    counts = np.full((positions, 256), float(alpha))
    np.add.at(counts, (np.tile(np.arange(positions), len(train)), flat_train.ravel()), 1.0)
    log_p = np.log2(counts / counts.sum(axis=1, keepdims=True))
    flat_test = test.reshape(len(test), positions).astype(np.int64)
    return float(-log_p[np.arange(positions)[None, :], flat_test].mean())


def model_bits_per_dim(model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """The model's teacher-forced bits/dim on ``images`` ``[N, H, W, C]`` (labels used when
    it is class-conditional), summed as the evaluator sums it."""
    import tensorflow as tf

    from t2x import metrics

    conditional = "inputs" in model.modalities

    @tf.function(reduce_retracing=True)
    def sums(targets, inputs):
        features = {"targets": targets, **({"inputs": inputs} if conditional else {})}
        logits = model(features, training=False)
        return metrics.step_sums(["bits_per_dim"], logits, targets, tf.ones(tf.shape(targets), tf.float32))

    totals = {}
    for i in range(0, len(images), batch_size):
        batch = slice(i, i + batch_size)
        out = sums(tf.constant(images[batch], tf.int64), tf.constant(labels[batch, None], tf.int64))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    return metrics.step_results(["bits_per_dim"], totals)["bits_per_dim"]


def sampling_rates(model, num_samples: int, rounds: int, seed: int = 1):
    """Samples/s of ``model.infer`` with and without its cache: alternated rounds after one
    warm-up (trace) each. Returns ({True: [...], False: [...]}, whether the pixels agreed)."""
    import tensorflow as tf

    conditional = "inputs" in model.modalities
    features = ({"inputs": tf.constant((np.arange(num_samples) % 10)[:, None], tf.int64)} if conditional
                else {"batch_size": num_samples})
    fns = {cache: tf.function(lambda cache=cache: model.infer(dict(features), use_cache=cache, seed=seed,
                                                              sampling_method="random", temperature=1.0))
           for cache in (True, False)}
    first = {cache: fn()["outputs"].numpy() for cache, fn in fns.items()}  # warm-up: trace and compile
    rates = {True: [], False: []}
    for _ in range(rounds):
        for cache, fn in fns.items():
            start = time.perf_counter()
            fn()["outputs"].numpy()
            rates[cache].append(num_samples / (time.perf_counter() - start))
    return rates, bool(np.array_equal(first[True], first[False]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist_dir", default=os.path.join(REPO, "..", "shared", "data", "mnist"))
    parser.add_argument("--output_dir", default=None, help="a trained imagetransformer run on MNIST")
    parser.add_argument("--hparams_set", default="imagetransformer_tiny")
    parser.add_argument("--problem", default="image_mnist_gen_conditional")
    parser.add_argument("--num_samples", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=50)
    parser.add_argument("--alpha", type=float, default=1.0)
    args = parser.parse_args(argv)

    from t2x.data.image import read_idx

    def idx(name):
        path = os.path.join(args.mnist_dir, name)
        if not os.path.exists(path):
            sys.exit(f"image_gen.py: {path} not found: pass --mnist_dir=DIR holding the four MNIST IDX files")
        return read_idx(path)

    train, test = idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")
    test_labels = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    report = {"marginal_bits_per_dim": marginal_bits_per_dim(train, test, args.alpha),
              "uniform_bits_per_dim": 8.0, "test_images": int(len(test))}

    import tensorflow as tf  # noqa: F401  (after the numpy-only part)

    from t2x import catalogue, registry
    from t2x.model import create_model

    catalogue.load()
    if args.output_dir:
        from t2x.runs.checkpoints import load_trained_model

        model, problem, _, path = load_trained_model(args.output_dir)
        report["checkpoint"] = path
        start = time.perf_counter()
        report["model_bits_per_dim"] = model_bits_per_dim(model, test[..., None], test_labels, args.batch_size)
        report["model_eval_seconds"] = time.perf_counter() - start
    else:
        problem = registry.problem(args.problem)
        model = create_model(problem, "imagetransformer", registry.hparams(args.hparams_set)(), None)
    rates, agree = sampling_rates(model, args.num_samples, args.rounds)
    cached, uncached = statistics.median(rates[True]), statistics.median(rates[False])
    report.update(samples_per_sec_cached=cached, samples_per_sec_uncached=uncached,
                  cache_speedup=cached / uncached, cached_equals_uncached=agree,
                  num_samples=args.num_samples, rounds=args.rounds, problem=problem.name)

    print(f"MNIST test set, {report['test_images']} images, bits per dimension (lower is better):")
    print(f"  {'uniform over 0..255':<36}{8.0:.3f}")
    print(f"  {f'per-pixel marginal (alpha={args.alpha:g})':<36}{report['marginal_bits_per_dim']:.3f}")
    if "model_bits_per_dim" in report:
        print(f"  {os.path.basename(os.path.normpath(args.output_dir)):<36}{report['model_bits_per_dim']:.3f}"
              f"  ({report['model_eval_seconds']:.0f} s)")
    print("  published: RealNVP 1.06, Glow 1.05, FFJORD 0.99")
    print(f"sampling {args.num_samples} images of {problem.name}, median of {args.rounds} alternated rounds:")
    print(f"  with the cache    {cached:.3f} samples/s")
    print(f"  without           {uncached:.3f} samples/s")
    print(f"  ratio             {cached / uncached:.2f}x  (same pixels: {agree})")
    print("JSON " + json.dumps(report, sort_keys=True))
    return 0 if math.isfinite(report["marginal_bits_per_dim"]) else 1


if __name__ == "__main__":
    sys.exit(main())
