"""The damage table: every problem kind x every kind of damage to a shard, for every writer.

For each kind (image, text-to-text with a subword vocabulary, text-to-class, language model,
algorithmic) the shards are written once with seed 7 (the reference). A copy of them is then
damaged, one kind of damage per train shard (12 train shards: 10 damaged, 2 left alone, and
the dev shard left alone), and the writer runs again, as ``t2x-datagen`` would: the local
writer (one process, and two forked ones) and the Beam launcher (Beam's in-process
FnApiRunner; the multi-process runner is covered by test_beam.py). The rerun must rewrite
exactly the damaged shards, leave the others untouched (same inode, same bytes), and
afterwards every shard and sidecar is byte-identical to the reference and the train split
reads to its end through the problem's own pipeline.

TFDS-backed problems (``tfds:<name>``) are not here: t2x writes no shard of theirs (TFDS
keeps and checks its own files); their vocabulary is t2x's, rebuilt when missing
(tests/t2x/data/test_tfds_problem.py).
"""

import os
import shutil

import gin
import pytest

from conftest import make_tiny_mnist, sha256_of

from t2x import registry
from t2x.data import generator_utils as gu
from t2x.data.problem import DatasetSplit, Mode, SplitSpec

TRAIN_SHARDS = 12
SEED, OTHER_SEED = 7, 8
WORDS = "the a cat dog sat on mat log and ran far home red blue".split()


def _lines(n, shift, length=4):
    return [" ".join(WORDS[(i * 7 + j * 3 + shift) % len(WORDS)] for j in range(2 + (i + length) % 5))
            for i in range(n)]


def _setup_kinds(root):
    """Registers the five problems (12 train shards each) over tiny raw files in ``root``;
    returns {kind: problem name}."""
    from t2x.data.image import IdxImage2ClassProblem, idx_sources
    from t2x.problems.algorithmic import TinyAlgo

    table, _ = make_tiny_mnist(str(root / "raw"), n_train=72, n_test=12)

    @registry.register_problem
    class DamageTableImage(IdxImage2ClassProblem):
        train_shards = TRAIN_SHARDS
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])

    @registry.register_problem
    class DamageTableAlgo(TinyAlgo):
        train_size, dev_size = 96, 12

        @property
        def dataset_splits(self):
            return [SplitSpec(DatasetSplit.TRAIN, TRAIN_SHARDS), SplitSpec(DatasetSplit.EVAL, 1)]

    text = root / "text"
    text.mkdir()
    for side, n in (("train", 96), ("dev", 12)):
        (text / f"{side}.en").write_text("\n".join(_lines(n, 0)) + "\n")
        (text / f"{side}.de").write_text("\n".join(_lines(n, 5)) + "\n")
        (text / f"{side}.lm").write_text("\n".join(_lines(n, 2)) + "\n")
        (text / f"{side}.tsv").write_text("".join(f"{'pos' if i % 3 else 'neg'}\t{line}\n"
                                                  for i, line in enumerate(_lines(n, 9))))
    bindings = {
        "TranslateFromFiles.train_inputs": str(text / "train.en"),
        "TranslateFromFiles.train_targets": str(text / "train.de"),
        "TranslateFromFiles.dev_inputs": str(text / "dev.en"),
        "TranslateFromFiles.dev_targets": str(text / "dev.de"),
        "TranslateFromFiles.approx_vocab_size": 60,
        "LanguagemodelFromFiles.train": str(text / "train.lm"),
        "LanguagemodelFromFiles.dev": str(text / "dev.lm"),
        "LanguagemodelFromFiles.vocab_type": "character",
        "TextClassificationFromFiles.train": str(text / "train.tsv"),
        "TextClassificationFromFiles.dev": str(text / "dev.tsv"),
        "TextClassificationFromFiles.vocab_type": "character",
    }
    for cls in ("TranslateFromFiles", "LanguagemodelFromFiles", "TextClassificationFromFiles"):
        bindings[f"{cls}.train_shards"] = TRAIN_SHARDS
    for key, value in bindings.items():
        gin.bind_parameter(key, value)
    return {"image": "damage_table_image", "text2text": "translate_from_files",
            "text2class": "text_classification_from_files", "language_model": "languagemodel_from_files",
            "algorithmic": "damage_table_algo"}


def _write(name, data_dir, tmp_dir, seed, writer="local"):
    problem = registry.problem(name)
    if writer == "beam":
        from t2x.data import beam

        return beam.write_problem(problem, str(data_dir), str(tmp_dir), random_seed=seed,
                                  pipeline_options_flags="--runner=FnApiRunner")
    return problem.generate_data(str(data_dir), str(tmp_dir), random_seed=seed,
                                 num_processes=2 if writer == "local_2_processes" else 1)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """{kind: (problem name, reference dir of seed 7, dir of seed 8, tmp_dir)}."""
    root = tmp_path_factory.mktemp("damage")
    kinds = _setup_kinds(root)
    refs = {}
    for kind, name in kinds.items():
        for seed in (SEED, OTHER_SEED):
            _write(name, root / f"{kind}-{seed}", root / "raw", seed)
        refs[kind] = (name, root / f"{kind}-{SEED}", root / f"{kind}-{OTHER_SEED}", root / "raw")
    yield refs
    gin.clear_config()


def _record_offsets(path):
    """Byte offsets where each record of a TFRecord file starts (12-byte header, data, 4-byte crc)."""
    import struct

    data = open(path, "rb").read()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 12 + struct.unpack("<Q", data[pos:pos + 8])[0] + 4
    return offsets


def _cut_between_records(path, ctx):
    offsets = _record_offsets(path)
    with open(path, "r+b") as f:
        f.truncate(offsets[len(offsets) // 2])


def _cut_inside_a_record(path, ctx):
    offsets = _record_offsets(path)
    with open(path, "r+b") as f:
        f.truncate(offsets[-1] + 12 + 5)  # past the last record's header, inside its data


def _bytes_overwritten(path, ctx):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2 - 32)
        f.write(b"\0" * 64)


def _another_problems_shard(path, ctx):
    shutil.copyfile(ctx["foreign"], path)  # the file only: its own sidecar stays


def _another_seeds_shard(path, ctx):
    shutil.copyfile(ctx["other_seed"] / os.path.basename(path), path)


def _another_seeds_shard_and_sidecar(path, ctx):
    for name in (path, gu.count_path(path)):
        shutil.copyfile(ctx["other_seed"] / os.path.basename(name), name)


def _sidecar_missing(path, ctx):
    os.remove(gu.count_path(path))


def _sidecar_of_another_shard(path, ctx):
    neighbour = path.replace(f"-{ctx['index']:05d}-of-", f"-{ctx['index'] + 1:05d}-of-")
    shutil.copyfile(gu.count_path(neighbour), gu.count_path(path))


def _sidecar_stale(path, ctx):  # the sidecar of an earlier write (another seed) beside this file
    shutil.copyfile(ctx["other_seed"] / os.path.basename(gu.count_path(path)), gu.count_path(path))


def _shard_deleted(path, ctx):
    os.remove(path)


DAMAGES = [_cut_between_records, _cut_inside_a_record, _bytes_overwritten, _another_problems_shard,
           _another_seeds_shard, _another_seeds_shard_and_sidecar, _sidecar_missing,
           _sidecar_of_another_shard, _sidecar_stale, _shard_deleted]
KINDS = ["image", "text2text", "text2class", "language_model", "algorithmic"]
WRITERS = ["local", "local_2_processes", "beam"]


def _files(directory):
    return sorted(n for n in os.listdir(directory) if "-train-" in n or "-dev-" in n)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_rerun_rewrites_exactly_the_damaged_shards(kind, writer, references, tmp_path):
    if writer == "beam":
        pytest.importorskip("apache_beam", reason='Apache Beam is an extra: pip install -e ".[beam]"')
    name, ref, other_seed, tmp_dir = references[kind]
    foreign_kind = KINDS[(KINDS.index(kind) + 1) % len(KINDS)]
    foreign_ref = references[foreign_kind][1]
    data = tmp_path / "data"
    shutil.copytree(ref, data)
    problem = registry.problem(name)
    train = problem.filepaths(str(data), DatasetSplit.TRAIN, TRAIN_SHARDS)
    dev = problem.filepaths(str(data), DatasetSplit.EVAL, 1)
    for index, damage in enumerate(DAMAGES):
        foreign = sorted(os.path.join(foreign_ref, n) for n in _files(foreign_ref)
                         if n.endswith(f"-{index:05d}-of-{TRAIN_SHARDS:05d}"))[0]
        damage(train[index], {"foreign": foreign, "other_seed": other_seed, "index": index})
    damaged = {train[i]: gu.verify_shard(train[i], SEED) if os.path.exists(train[i]) else "missing"
               for i in range(len(DAMAGES))}
    assert all(damaged.values()), damaged  # every damage is seen, whichever it is
    untouched = train[len(DAMAGES):] + dev
    before = {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in untouched}

    reports = _write(name, data, tmp_dir, SEED, writer)

    assert sum(r.shards_written for r in reports.values()) == len(DAMAGES), reports
    assert {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in untouched} == before  # not rewritten
    assert _files(data) == _files(ref)  # no temporary, run file or extra sidecar left
    different = [n for n in _files(ref) if sha256_of(data / n) != sha256_of(ref / n)]
    assert different == []  # shards and sidecars byte for byte the reference's
    assert gu.corrupt_shards(train + dev, SEED) == []

    import tensorflow as tf  # the train split reads to its end through the problem's pipeline

    parsed = problem.read(Mode.TRAIN, str(data), repeat=False, shuffle_files=False)
    count = sum(int(tf.shape(next(iter(batch.values())))[0]) for batch in parsed)
    assert count == sum(gu.read_sidecar(p)["records"] for p in train) > 0


def test_each_damage_is_named_in_words(references, tmp_path):
    name, ref, other_seed, _ = references["algorithmic"]
    data = tmp_path / "data"
    shutil.copytree(ref, data)
    train = registry.problem(name).filepaths(str(data), DatasetSplit.TRAIN, TRAIN_SHARDS)
    foreign = str(references["image"][1] / _files(references["image"][1])[0])
    for index, damage in enumerate(DAMAGES):
        damage(train[index], {"foreign": foreign, "other_seed": other_seed, "index": index})
    said = [gu.verify_shard(p, SEED) if os.path.exists(p) else "missing" for p in train[:len(DAMAGES)]]
    assert said[0].startswith("holds ") and "records where its writer wrote" in said[0]
    assert said[1].startswith("unreadable (truncated record") or said[1] == "holds 7 records where its writer wrote 8"
    assert said[2].startswith("unreadable (") or said[2].startswith("holds other bytes")
    assert said[3].startswith("holds ")  # another problem's shard: another record count here
    assert said[4].startswith("holds other bytes than its writer wrote")  # same count, other order
    assert said[5] == f"was written with seed {OTHER_SEED}, this run's is {SEED}"
    assert said[6].startswith("has no .count sidecar")
    assert said[7].startswith("has the sidecar of another shard (damage_table_algo-train-00008-of-00012)")
    assert said[8] == f"was written with seed {OTHER_SEED}, this run's is {SEED}"
    assert said[9] == "missing"
    assert gu.verify_shard(train[5]) is None  # without a seed to compare, a whole shard of seed 8 is whole


def test_a_full_disk_is_one_error_and_leaves_no_temporary(references, tmp_path):
    """A file-size limit makes the writer's writes fail (EFBIG) as a full disk would (ENOSPC):
    one DataError naming the directory; no temporary, run file or half shard is left."""
    import resource
    import signal

    name, ref, _, tmp_dir = references["image"]
    data = tmp_path / "data"
    shutil.copytree(ref, data)
    for n in _files(data):
        if "-train-" in n:
            os.remove(data / n)
    pid = os.fork()
    if pid == 0:  # the limit applies to this child only
        code = 3
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))
            try:
                _write(name, data, tmp_dir, SEED)
                code = 2
            except Exception as e:  # noqa: BLE001  (the child reports by exit status)
                from t2x.errors import DataError

                ok = isinstance(e, DataError) and str(e).startswith(f"cannot write in {data}: file too large")
                code = 0 if ok else 1
                if not ok:
                    print(type(e).__name__, e, flush=True)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    left = [n for n in os.listdir(data) if ".tmp-" in n or "-train-" in n]
    assert left == []


def test_a_whole_split_of_another_seed_is_data_not_damage(references, tmp_path):
    """Training with another --random_seed (and --generate_data) keeps the data it finds."""
    name, _, other_seed, tmp_dir = references["language_model"]
    data = tmp_path / "data"
    shutil.copytree(other_seed, data)
    before = {n: sha256_of(data / n) for n in _files(data)}
    reports = _write(name, data, tmp_dir, SEED)
    assert sum(r.shards_written for r in reports.values()) == 0
    assert {n: sha256_of(data / n) for n in _files(data)} == before
