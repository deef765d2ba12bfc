"""Side-by-side benchmark of image_mnist generation and reading, on the real MNIST files.

    python benchmarks/mnist_datagen.py [--mnist_dir=DIR] [--repeats=3] [--read_repeats=9] [--work_dir=DIR]

Measures, in one run, alternating the variants (A B C A B C ...) so that the noise of a
shared machine falls on all of them alike, and prints RATIOS as the headline:

1. generation (60,000 train + 10,000 dev) with num_processes=1 vs 2: speed-up t1/t2,
   and whether the shards of both are byte-identical (sha256);
2. image_format "raw" (default) vs "png": generation time (num_processes=1), bytes on
   disk, read throughput of ``problem.dataset`` for Mode.EVAL (one full deterministic
   pass over dev) and Mode.TRAIN (warm-up batches, then timed batches, seed fixed);
3. Mode.TRAIN read throughput with deterministic=True vs deterministic=False;
4. Mode.TRAIN read throughput with ``batch_preprocess`` (preprocessing on parse batches,
   the image default) vs per-example ``preprocess_example`` after unbatching.

A ratio is the median of the per-round ratios (round r pairs the r-th measurement of each
variant), shown with its min..max over rounds; bare medians are secondary. The last line
is JSON with every figure. Nothing touches the network (T2X_OFFLINE=1).
"""

import os

os.environ["T2X_OFFLINE"] = "1"  # before anything of t2x: never download
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SEED = 1234


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist_dir", default=os.path.join(REPO_ROOT, "..", "shared", "data", "mnist"),
                        help="folder holding the four MNIST IDX .gz files")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of the alternated generation measurements (default 3)")
    parser.add_argument("--read_repeats", type=int, default=9,
                        help="rounds of the alternated read measurements (default 9; a read "
                        "round is short, so more rounds are cheap and steady the ratios)")
    parser.add_argument("--work_dir", default=None,
                        help="scratch folder (default: a fresh temporary one, deleted at the end)")
    parser.add_argument("--train_warmup_batches", type=int, default=20)
    parser.add_argument("--train_batches", type=int, default=300)
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.read_repeats < 1:
        parser.error("--repeats and --read_repeats must be >= 1")
    return args


# ------------------------------------------------------------------- helpers --

def log(msg):
    print(msg, flush=True)


def shard_digests(problem, data_dir):
    """{file name: sha256} of every shard of every split of ``problem`` in ``data_dir``."""
    out = {}
    for spec in problem.dataset_splits:
        for path in problem.filepaths(data_dir, spec.split, spec.num_shards):
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.basename(path)] = h.hexdigest()
    return out


def shard_bytes(problem, data_dir):
    return sum(os.path.getsize(p) for spec in problem.dataset_splits
               for p in problem.filepaths(data_dir, spec.split, spec.num_shards))


def combined_digest(digests):
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}={digests[name]}\n".encode())
    return h.hexdigest()


def timed_generate(problem, data_dir, tmp_dir, num_processes):
    if os.path.exists(data_dir):
        shutil.rmtree(data_dir)
    start = time.perf_counter()
    reports = problem.generate_data(data_dir, tmp_dir, num_processes=num_processes,
                                    random_seed=SEED)
    seconds = time.perf_counter() - start
    written = sum(r.examples_written for r in reports.values())
    if written != 70000:
        raise RuntimeError(f"{data_dir}: wrote {written} examples, expected 70000")
    return seconds


def read_eval_pass(problem, data_dir, batch_size):
    """One full deterministic pass over dev -> (examples, seconds). Iterator creation and
    pipeline start-up are inside the timing (they are part of every eval pass)."""
    from t2x.data.problem import Mode
    ds = problem.dataset(Mode.EVAL, data_dir, batch_size=batch_size, deterministic=True)
    n = 0
    start = time.perf_counter()
    for batch in ds:
        n += int(batch["targets"].shape[0])
    return n, time.perf_counter() - start


def read_train(problem, data_dir, batch_size, warmup, batches, deterministic):
    """``warmup`` untimed batches (fills the shuffle buffer), then ``batches`` timed."""
    from t2x.data.problem import Mode
    ds = problem.dataset(Mode.TRAIN, data_dir, batch_size=batch_size, seed=SEED,
                         deterministic=deterministic)
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    n = 0
    start = time.perf_counter()
    for _ in range(batches):
        n += int(next(it)["targets"].shape[0])
    return n, time.perf_counter() - start


def paired_ratio(a, b):
    """Per-round ratios a[i]/b[i] -> (median, min, max)."""
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios), min(ratios), max(ratios)


# ---------------------------------------------------------------------- main --

def main(argv=None):
    args = parse_args(argv)
    mnist_dir = os.path.abspath(args.mnist_dir)
    missing = [f for f in MNIST_FILES if not os.path.isfile(os.path.join(mnist_dir, f))]
    if missing:
        sys.exit(f"--mnist_dir={mnist_dir} lacks {', '.join(missing)}")

    t_total = time.perf_counter()
    import tensorflow as tf  # once, up front, before any timing (forked writers inherit it)
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)  # no progress lines in the table
    tf.get_logger().setLevel("ERROR")

    from t2x import registry
    from t2x.problems.mnist import ImageMnist

    class ImageMnistPngBenchmark(ImageMnist):  # not registered: a benchmark-only variant
        image_format = "png"

    class ImageMnistPerExampleBenchmark(ImageMnist):  # reads image_mnist's raw files
        batch_preprocess = False  # preprocess_example once per example, after unbatching

        def dataset_filename(self):
            return "image_mnist"

    raw_problem = registry.problem("image_mnist")
    png_problem = ImageMnistPngBenchmark()
    per_example_problem = ImageMnistPerExampleBenchmark()

    own_work_dir = args.work_dir is None
    work_dir = tempfile.mkdtemp(prefix="t2x_mnist_bench_") if own_work_dir else os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    try:
        tmp_dir = os.path.join(work_dir, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        for f in MNIST_FILES:
            dst = os.path.join(tmp_dir, f)
            if not os.path.exists(dst):
                try:
                    os.symlink(os.path.join(mnist_dir, f), dst)
                except OSError:
                    shutil.copyfile(os.path.join(mnist_dir, f), dst)

        log(f"t2x mnist benchmark: python {platform.python_version()}, tensorflow {tf.__version__}, "
            f"{os.cpu_count()} cpus, loadavg {os.getloadavg()[0]:.2f}, repeats {args.repeats}/{args.read_repeats}, "
            f"work_dir {work_dir}")

        # Warm-up (untimed): first-call costs (lazy imports, protobuf, gzip, caches) fall
        # here rather than on the first variant. These dirs are the ones read below; each
        # variant has its own data_dir, so raw and png files never mix.
        raw_dir = os.path.join(work_dir, "read_raw")
        png_dir = os.path.join(work_dir, "read_png")
        log("warm-up: generating raw and png data for the read measurements ...")
        timed_generate(raw_problem, raw_dir, tmp_dir, 1)
        timed_generate(png_problem, png_dir, tmp_dir, 1)
        raw_bytes = shard_bytes(raw_problem, raw_dir)
        png_bytes = shard_bytes(png_problem, png_dir)
        raw_digest_ref = shard_digests(raw_problem, raw_dir)
        png_digest_ref = shard_digests(png_problem, png_dir)

        # ---- generation: raw N=1 | raw N=2 | png N=1, alternated per round -----------
        gen = {"raw_n1": [], "raw_n2": [], "png_n1": []}
        gen_variants = (("raw_n1", raw_problem, 1), ("raw_n2", raw_problem, 2),
                        ("png_n1", png_problem, 1))
        identical_n1_n2 = True
        reproducible = True
        for r in range(args.repeats):
            digests = {}
            for key, problem, nproc in gen_variants:
                data_dir = os.path.join(work_dir, f"gen_{key}_{r}")
                gen[key].append(timed_generate(problem, data_dir, tmp_dir, nproc))
                digests[key] = shard_digests(problem, data_dir)
                shutil.rmtree(data_dir)
            identical_n1_n2 &= digests["raw_n1"] == digests["raw_n2"]
            reproducible &= digests["raw_n1"] == raw_digest_ref and digests["png_n1"] == png_digest_ref
            log(f"generation round {r + 1}/{args.repeats}: "
                + ", ".join(f"{k} {gen[k][-1]:.2f}s" for k, _, _ in gen_variants))

        # ---- reading, EVAL: raw | png, alternated ---------------------------------------
        for problem, d in ((raw_problem, raw_dir), (png_problem, png_dir)):  # untimed warm-up
            read_eval_pass(problem, d, args.batch_size)
        eval_eps = {"raw": [], "png": []}
        for r in range(args.read_repeats):
            for key, problem, d in (("raw", raw_problem, raw_dir), ("png", png_problem, png_dir)):
                n, s = read_eval_pass(problem, d, args.batch_size)
                if n != 10000:
                    raise RuntimeError(f"EVAL pass over {key} dev read {n} examples, expected 10000")
                eval_eps[key].append(n / s)
            log(f"eval read round {r + 1}/{args.read_repeats}: "
                + ", ".join(f"{k} {v[-1]:.0f} ex/s" for k, v in eval_eps.items()))

        # ---- reading, TRAIN: raw nondet | png nondet | raw det, alternated ---------------
        train_variants = (("raw", raw_problem, raw_dir, False), ("png", png_problem, png_dir, False),
                          ("raw_det", raw_problem, raw_dir, True),
                          ("raw_per_example", per_example_problem, raw_dir, False))
        train_eps = {k: [] for k, _, _, _ in train_variants}
        for r in range(args.read_repeats):
            for key, problem, d, det in train_variants:
                n, s = read_train(problem, d, args.batch_size, args.train_warmup_batches,
                                  args.train_batches, det)
                train_eps[key].append(n / s)
            log(f"train read round {r + 1}/{args.read_repeats}: "
                + ", ".join(f"{k} {v[-1]:.0f} ex/s" for k, v in train_eps.items()))

        # ---- results --------------------------------------------------------------------
        med = statistics.median
        speedup = paired_ratio(gen["raw_n1"], gen["raw_n2"])
        gen_fmt = paired_ratio(gen["raw_n1"], gen["png_n1"])
        eval_fmt = paired_ratio(eval_eps["raw"], eval_eps["png"])
        train_fmt = paired_ratio(train_eps["raw"], train_eps["png"])
        det = paired_ratio(train_eps["raw_det"], train_eps["raw"])
        batched = paired_ratio(train_eps["raw"], train_eps["raw_per_example"])
        size_ratio = raw_bytes / png_bytes

        def row(label, ratio, meaning, detail):
            m, lo, hi = ratio if isinstance(ratio, tuple) else (ratio, ratio, ratio)
            spread = f"{lo:.2f}..{hi:.2f}" if isinstance(ratio, tuple) else "exact"
            return f"{label:<40} {m:>6.2f}  {spread:>11}  {meaning:<34} {detail}"

        lines = [
            "",
            f"== image_mnist datagen/read benchmark: ratios = median of per-round ratios over "
            f"{args.repeats} generation / {args.read_repeats} read rounds, variants alternated ==",
            f"{'measure':<40} {'ratio':>6}  {'min..max':>11}  {'meaning':<34} secondary (medians)",
            row("generate, num_processes 1 / 2 (time)", speedup, ">1: 2 processes faster",
                f"{med(gen['raw_n1']):.2f}s vs {med(gen['raw_n2']):.2f}s"),
            row("generate, raw / png (time, N=1)", gen_fmt, "<1: raw faster",
                f"{med(gen['raw_n1']):.2f}s vs {med(gen['png_n1']):.2f}s"),
            row("bytes on disk, raw / png", size_ratio, ">1: png smaller",
                f"{raw_bytes / 1e6:.1f} MB vs {png_bytes / 1e6:.1f} MB"),
            row("read EVAL dev pass, raw / png (ex/s)", eval_fmt, ">1: raw faster",
                f"{med(eval_eps['raw']):.0f} vs {med(eval_eps['png']):.0f} ex/s"),
            row("read TRAIN, raw / png (ex/s)", train_fmt, ">1: raw faster",
                f"{med(train_eps['raw']):.0f} vs {med(train_eps['png']):.0f} ex/s"),
            row("read TRAIN, deterministic True / False", det, "<1: deterministic slower",
                f"{med(train_eps['raw_det']):.0f} vs {med(train_eps['raw']):.0f} ex/s"),
            row("read TRAIN, batch / per-example preproc.", batched, ">1: batch_preprocess faster",
                f"{med(train_eps['raw']):.0f} vs {med(train_eps['raw_per_example']):.0f} ex/s"),
            f"shards num_processes=1 vs 2 byte-identical (sha256, 11 shards, every round): "
            f"{'YES' if identical_n1_n2 else 'NO'}",
            f"shards identical to the warm-up run of the same variant (raw and png): "
            f"{'YES' if reproducible else 'NO'}; raw sha256(all shards) "
            f"{combined_digest(raw_digest_ref)[:16]}, png {combined_digest(png_digest_ref)[:16]}",
            f"setup: seed {SEED}, batch_size {args.batch_size}, EVAL = 10,000 dev examples "
            f"deterministic; TRAIN = {args.train_warmup_batches} warm-up + {args.train_batches} timed "
            f"batches, seed fixed, deterministic=False unless stated; loadavg now "
            f"{os.getloadavg()[0]:.2f}; total {time.perf_counter() - t_total:.0f}s",
        ]
        for line in lines:
            log(line)

        def fig(ratio):
            return {"median": round(ratio[0], 4), "min": round(ratio[1], 4), "max": round(ratio[2], 4)}

        result = {
            "benchmark": "mnist_datagen", "repeats": args.repeats,
            "read_repeats": args.read_repeats, "cpus": os.cpu_count(),
            "tensorflow": tf.__version__, "python": platform.python_version(), "seed": SEED,
            "ratios": {
                "gen_speedup_n1_over_n2": fig(speedup),
                "gen_time_raw_over_png": fig(gen_fmt),
                "bytes_raw_over_png": round(size_ratio, 4),
                "eval_read_eps_raw_over_png": fig(eval_fmt),
                "train_read_eps_raw_over_png": fig(train_fmt),
                "train_read_eps_det_over_nondet": fig(det),
                "train_read_eps_batch_over_per_example_preprocess": fig(batched),
            },
            "gen_seconds": {k: [round(x, 3) for x in v] for k, v in gen.items()},
            "eval_eps": {k: [round(x, 1) for x in v] for k, v in eval_eps.items()},
            "train_eps": {k: [round(x, 1) for x in v] for k, v in train_eps.items()},
            "bytes": {"raw": raw_bytes, "png": png_bytes},
            "shards_identical_n1_n2": identical_n1_n2,
            "shards_reproducible": reproducible,
            "sha256_all_shards": {"raw": combined_digest(raw_digest_ref),
                                  "png": combined_digest(png_digest_ref)},
            "total_seconds": round(time.perf_counter() - t_total, 1),
        }
        log("JSON " + json.dumps(result, sort_keys=True))
    finally:
        if own_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
