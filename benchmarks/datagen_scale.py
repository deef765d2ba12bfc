"""Datagen at scale: does peak memory stay flat, and the rate hold, as the corpus grows 20x?

    python benchmarks/datagen_scale.py [--sizes=200000,4000000] [--shards=10] [--rounds=1] \
        [--work_dir=/tmp/t2x_datagen_scale] [--keep]

Makes synthetic parallel corpora (``--sizes`` line pairs; words drawn Zipf-like from a fixed
list of 5,000 pseudo-words, 5-30 words a line; 2,000 dev pairs) in ``--work_dir``, then, in
fresh subprocesses, side by side in one run:

1. **vocabulary**: ``TranslateFromFiles.prepare_data`` alone (an ~8k subword vocabulary,
   T2T's ``file_byte_budget`` of 1e6 bytes per file read with seeks): seconds and peak RSS,
   for each size;
2. **datagen**: ``t2x-datagen --problem=translate_from_files`` (gin paths, ``train_shards``
   = ``--shards`` for every size, the vocabulary of step 1 already in place so the writer
   alone is measured), one process, for each size; then two processes on the largest;
   peak RSS and the train split's examples/s (the writer's own summary line). With
   ``--rounds`` > 1 the datagen runs repeat in that order round after round, so that a
   shared machine's noise falls on all of them; a ratio is the median of the per-round
   ratios (with its min..max).

Peak RSS is measured two ways: ``ru_maxrss`` of the largest process of the command (exact,
from ``getrusage(RUSAGE_CHILDREN)`` in a wrapper process that runs only that command), and
the sum of PSS over its process tree, polled every 0.5 s (forked writers share their
parent's pages: PSS counts a shared page once). Printed: a table, the ratios the issue
asks for (RSS largest / smallest <= 1.25, examples/s within 20 %, two processes / one >= 1.8
on the largest), the CPU seconds and cores each run used (user + system time over wall time:
two processes do the same work as one, so their speed-up is the extra core they get), the
machine's load average before and after (on a shared 2-core box other work takes that
core), and one JSON line. Nothing touches the network.
"""

import os

os.environ["T2X_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_PAIRS = 2000
VOCAB_SIZE = 2 ** 13

VOCAB_CODE = """
import sys
from t2x.problems.from_files import TranslateFromFiles
src, tgt, dev_src, dev_tgt, data_dir = sys.argv[1:6]
problem = TranslateFromFiles(train_inputs=src, train_targets=tgt, dev_inputs=dev_src,
                             dev_targets=dev_tgt, approx_vocab_size=int(sys.argv[6]))
problem.prepare_data(data_dir, data_dir)
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,4000000", help="line pairs of each corpus")
    parser.add_argument("--shards", type=int, default=10, help="train shards, the same for every size")
    parser.add_argument("--work_dir", default="/tmp/t2x_datagen_scale")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the datagen runs")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and shards")
    parser.add_argument("--_rusage", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    args.command = rest[1:] if rest[:1] == ["--"] else rest
    return args


def rusage_wrapper(command):
    """Runs ``command``; prints ``{"returncode", "maxrss_kib", "cpu_seconds"}`` (its largest
    process; user + system time of all its processes)."""
    code = subprocess.run(command).returncode
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"returncode": code, "maxrss_kib": usage.ru_maxrss,
                      "cpu_seconds": usage.ru_utime + usage.ru_stime}))
    return 0


def measure(command, log_path):
    """Runs ``command`` under the rusage wrapper, polling its tree's PSS; returns
    ``(stdout of command, seconds, peak ru_maxrss MiB, peak tree PSS MiB, CPU seconds)``."""
    import psutil

    wrapper = [sys.executable, os.path.abspath(__file__), "--_rusage", "--", *command]
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(wrapper, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO_ROOT)
        me = psutil.Process(proc.pid)
        peak_pss = 0
        while proc.poll() is None:
            total = 0
            try:
                for child in me.children(recursive=True):
                    try:
                        total += child.memory_full_info().pss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
            except psutil.NoSuchProcess:
                pass
            peak_pss = max(peak_pss, total)
            time.sleep(0.5)
        out = proc.stdout.read()
    seconds = time.monotonic() - start
    lines = out.strip().splitlines()
    usage = json.loads(lines[-1])
    if usage["returncode"] != 0:
        raise SystemExit(f"{' '.join(command)} failed ({usage['returncode']}); see {log_path}")
    return ("\n".join(lines[:-1]), seconds, usage["maxrss_kib"] / 1024, peak_pss / 2 ** 20,
            usage["cpu_seconds"])


def make_corpus(directory, pairs, seed):
    """Writes train.{en,de} (``pairs`` lines) and dev.{en,de}; returns their paths."""
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in ("train.en", "train.de", "dev.en", "dev.de")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = np.random.RandomState(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "zo", "ba", "de", "fu", "go", "hi"]
    vocab = sorted({"".join(rng.choice(syllables, size=rng.randint(1, 5))) for _ in range(6000)})[:5000]
    words = {"en": np.array(vocab), "de": np.array([w[::-1] + "n" for w in vocab])}
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    for split, n in (("train", pairs), ("dev", DEV_PAIRS)):
        handles = {lang: open(paths[f"{split}.{lang}"] + ".part", "w") for lang in words}
        for block in range(0, n, 100_000):
            m = min(100_000, n - block)
            lengths = rng.randint(5, 31, size=m)
            ids = rng.choice(len(vocab), size=int(lengths.sum()), p=weights)
            starts = np.concatenate([[0], np.cumsum(lengths)])
            for lang, table in words.items():
                tokens = table[ids] if lang == "en" else table[np.roll(ids, 1)]
                handles[lang].write("\n".join(" ".join(tokens[starts[i]:starts[i + 1]]) for i in range(m)) + "\n")
        for lang, handle in handles.items():
            handle.close()
            os.replace(paths[f"{split}.{lang}"] + ".part", paths[f"{split}.{lang}"])
    return paths


def gin_params(paths, shards):
    keys = {"train_inputs": "train.en", "train_targets": "train.de", "dev_inputs": "dev.en", "dev_targets": "dev.de"}
    return [f"--gin_param=TranslateFromFiles.{k}='{paths[v]}'" for k, v in keys.items()] + [
        f"--gin_param=TranslateFromFiles.train_shards={shards}",
        f"--gin_param=TranslateFromFiles.approx_vocab_size={VOCAB_SIZE}"]


def train_rate(stdout):
    """(examples, seconds, examples/s) of the train split from t2x-datagen's summary."""
    m = re.search(r"translate_from_files train: .*wrote \d+ shard\(s\), (\d+) examples in ([\d.]+) s "
                  r"\((\d+) examples/s\)", stdout)
    if not m:
        raise SystemExit(f"no train summary line in:\n{stdout}")
    return int(m.group(1)), float(m.group(2)), int(m.group(3))


def main():
    args = parse_args()
    if args._rusage:
        return rusage_wrapper(args.command)
    sizes = [int(s) for s in args.sizes.split(",")]
    os.makedirs(args.work_dir, exist_ok=True)
    load_before = os.getloadavg()
    results = {"sizes": sizes, "shards": args.shards, "rounds_run": args.rounds, "vocab": {}}
    corpora = {}
    for n in sizes:
        start = time.monotonic()
        corpora[n] = make_corpus(os.path.join(args.work_dir, f"corpus_{n}"), n, seed=n)
        print(f"corpus {n:,} pairs: {os.path.getsize(corpora[n]['train.en']) / 2 ** 20:.0f} + "
              f"{os.path.getsize(corpora[n]['train.de']) / 2 ** 20:.0f} MiB "
              f"({time.monotonic() - start:.0f} s)", flush=True)

    for n in sizes:  # 1. the vocabulary alone
        vocab_dir = os.path.join(args.work_dir, f"vocab_{n}")
        shutil.rmtree(vocab_dir, ignore_errors=True)
        os.makedirs(vocab_dir)
        c = corpora[n]
        _, seconds, rss, pss, _ = measure([sys.executable, "-c", VOCAB_CODE, c["train.en"], c["train.de"],
                                        c["dev.en"], c["dev.de"], vocab_dir, str(VOCAB_SIZE)],
                                       os.path.join(args.work_dir, f"vocab_{n}.log"))
        name = f"vocab.translate_from_files.{VOCAB_SIZE}.subword"
        record = json.load(open(os.path.join(vocab_dir, name + ".json")))
        results["vocab"][n] = {"process_seconds": round(seconds, 1), "build_seconds": record["seconds"],
                               "peak_rss_mib": round(rss), "peak_pss_mib": round(pss),
                               "bytes_read": record["bytes"], "vocab_size": record["vocab_size"]}
        print(f"vocab {n:,}: {record['seconds']:.1f} s build ({seconds:.1f} s process), "
              f"peak RSS {rss:.0f} MiB, {record['bytes']:,} bytes read", flush=True)

    largest, smallest = max(sizes), min(sizes)
    variants = [(n, 1) for n in sizes] + [(largest, 2)]
    rounds = []
    for r in range(args.rounds):  # 2. the writer, the variants alternating round by round
        rounds.append({})
        for n, procs in variants:
            key = f"{n}x{procs}"
            data_dir = os.path.join(args.work_dir, f"data_{key}")
            shutil.rmtree(data_dir, ignore_errors=True)
            os.makedirs(data_dir)
            for name in os.listdir(os.path.join(args.work_dir, f"vocab_{n}")):
                shutil.copy(os.path.join(args.work_dir, f"vocab_{n}", name), data_dir)
            stdout, seconds, rss, pss, cpu = measure(
                [sys.executable, "-m", "t2x.scripts.t2x_datagen", "--problem=translate_from_files",
                 f"--data_dir={data_dir}", f"--num_processes={procs}", *gin_params(corpora[n], args.shards)],
                os.path.join(args.work_dir, f"datagen_{key}_{r}.log"))
            examples, write_seconds, rate = train_rate(stdout)
            rounds[-1][key] = {"pairs": n, "processes": procs, "examples": examples,
                               "write_seconds": write_seconds, "examples_per_s": rate,
                               "process_seconds": round(seconds, 1), "peak_rss_mib": round(rss),
                               "peak_pss_mib": round(pss), "cpu_seconds": round(cpu, 1),
                               "cores_used": round(cpu / seconds, 2),
                               "loadavg_1min": round(os.getloadavg()[0], 2)}
            print(f"round {r + 1}: datagen {n:,} pairs, {procs} process(es): {rate:,} examples/s "
                  f"({write_seconds:.0f} s), peak RSS {rss:.0f} MiB, tree PSS {pss:.0f} MiB, "
                  f"{cpu:.0f} CPU s over {seconds:.0f} s ({cpu / seconds:.2f} cores), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            if not args.keep:
                shutil.rmtree(data_dir)
    results["rounds"] = rounds

    def ratio(num, den, field):
        values = sorted(rd[num][field] / rd[den][field] for rd in rounds)
        return {"median": round(statistics.median(values), 3), "min": round(values[0], 3),
                "max": round(values[-1], 3)}

    small, big, big2 = f"{smallest}x1", f"{largest}x1", f"{largest}x2"
    vocab = results["vocab"]
    ratios = {
        "rss_largest_over_smallest": ratio(big, small, "peak_rss_mib"),
        "pss_largest_over_smallest": ratio(big, small, "peak_pss_mib"),
        "rate_largest_over_smallest": ratio(big, small, "examples_per_s"),
        "two_processes_over_one": ratio(big2, big, "examples_per_s"),
        "two_processes_over_one_cpu_seconds": ratio(big2, big, "cpu_seconds"),
        "two_processes_over_one_cores_used": ratio(big2, big, "cores_used"),
        "vocab_seconds_largest_over_smallest": round(vocab[largest]["build_seconds"] / vocab[smallest]["build_seconds"], 3),
        "vocab_rss_largest_over_smallest": round(vocab[largest]["peak_rss_mib"] / vocab[smallest]["peak_rss_mib"], 3),
    }
    results["ratios"] = ratios
    results["loadavg_before"] = [round(x, 2) for x in load_before]
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]

    print()
    print(f"{'run':<30}{'examples/s':>12}{'write s':>10}{'peak RSS MiB':>14}{'tree PSS MiB':>14}"
          f"{'CPU s':>8}{'cores':>7}")
    for r, rd in enumerate(rounds, 1):
        for key, row in rd.items():
            name = f"datagen {row['pairs']:,} x{row['processes']} (round {r})"
            print(f"{name:<30}{row['examples_per_s']:>12,}{row['write_seconds']:>10.0f}"
                  f"{row['peak_rss_mib']:>14}{row['peak_pss_mib']:>14}{row['cpu_seconds']:>8.0f}"
                  f"{row['cores_used']:>7.2f}")
    for n, row in vocab.items():
        print(f"{'vocab ' + format(n, ','):<30}{'':>12}{row['build_seconds']:>10.1f}"
              f"{row['peak_rss_mib']:>14}{row['peak_pss_mib']:>14}")
    print()

    def show(what, r, want):
        print(f"{what}: {r['median']:.3f}x (rounds {r['min']:.3f}..{r['max']:.3f}; want {want})")

    show(f"peak RSS, {largest:,} / {smallest:,} pairs", ratios["rss_largest_over_smallest"], "<= 1.25")
    show(f"examples/s, {largest:,} / {smallest:,} pairs", ratios["rate_largest_over_smallest"], "0.8-1.2")
    show(f"examples/s, 2 / 1 processes on {largest:,}", ratios["two_processes_over_one"], ">= 1.8")
    show(f"CPU seconds, 2 / 1 processes on {largest:,}", ratios["two_processes_over_one_cpu_seconds"],
         "about 1: the same work")
    show(f"cores used, 2 / 1 processes on {largest:,}", ratios["two_processes_over_one_cores_used"],
         "about 2 on an idle machine")
    print(f"vocabulary build, {largest:,} / {smallest:,}: {ratios['vocab_seconds_largest_over_smallest']:.3f}x "
          f"time, {ratios['vocab_rss_largest_over_smallest']:.3f}x peak RSS")
    print(f"load average before {results['loadavg_before']}, after {results['loadavg_after']} (2 cores)")
    print(json.dumps(results))
    if not args.keep:
        for n in sizes:
            shutil.rmtree(os.path.join(args.work_dir, f"vocab_{n}"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
