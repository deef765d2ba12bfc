"""t2x-datagen --beam (Apache Beam, FnApiRunner with 2 worker processes): the shards equal
the local writer's byte for byte; a killed run leaves no partial shard under a final name."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, sha256_of, shard_files

pytest.importorskip("apache_beam", reason='Apache Beam is an extra: pip install -e ".[beam]"')

from t2x import registry  # noqa: E402
from t2x.data import beam as t2x_beam  # noqa: E402
from t2x.data import generator_utils as gu  # noqa: E402

SHARD_NAME = re.compile(r"-(train|dev|test)-\d{5}-of-\d{5}$")

# A user's problem: 4 train shards of tiny_algo-like samples; with SLOW set, a worker's
# second shard stalls half-way through its samples (the test kills the run there).
SLOW_PROBLEM = textwrap.dedent('''
    import os, time
    from t2x import registry
    from t2x.data.problem import SplitSpec
    from t2x.problems.algorithmic import TinyAlgo

    CALLS = []

    @registry.register_problem
    class SlowAlgo(TinyAlgo):
        train_size, dev_size = 400, 40

        @property
        def dataset_splits(self):
            return [SplitSpec("train", 4), SplitSpec("dev", 1)]

        def generate_samples(self, data_dir, tmp_dir, dataset_split, seed=0):
            CALLS.append(1)
            for i, sample in enumerate(super().generate_samples(data_dir, tmp_dir, dataset_split, seed)):
                if os.environ.get("SLOW") and len(CALLS) > 1 and i == 200:
                    time.sleep(120)
                yield sample
''')


def datagen(*args, env=None, timeout=120, **popen):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1", **(env or {}))
    argv = [sys.executable, "-m", "t2x.scripts.t2x_datagen", *args]
    if popen:
        return subprocess.Popen(argv, env=full_env, cwd=REPO_ROOT, **popen)
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO_ROOT)


def live_members(pgid, wait_s=5.0):
    """The processes of group ``pgid`` still running (zombies awaiting their reaper are not)."""
    import psutil

    deadline = time.monotonic() + wait_s
    while True:
        live = []
        for p in psutil.process_iter(["status"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    live.append(p.pid)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def same_files(a, b):
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b))
    return all(sha256_of(os.path.join(a, n)) == sha256_of(os.path.join(b, n)) for n in names
               if os.path.isfile(os.path.join(a, n)))


def test_beam_shards_equal_the_local_writers_for_tiny_algo(tmp_path):
    registry.problem("tiny_algo").generate_data(str(tmp_path / "local"), str(tmp_path / "tmp"),
                                                random_seed=7)
    result = datagen("--problem=tiny_algo", f"--data_dir={tmp_path / 'beam'}",
                     f"--tmp_dir={tmp_path / 'tmp'}", "--random_seed=7", "--beam")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tiny_algo train: 1 shard(s)" in result.stdout and "100 examples" in result.stdout
    assert same_files(tmp_path / "local", tmp_path / "beam")  # shards and .count sidecars


def test_beam_shards_equal_the_local_writers_for_translate_from_files(tmp_path):
    words = "the a cat dog sat on mat log and ran far home".split()
    for side, n in (("train", 300), ("dev", 20)):
        for lang, shift in (("en", 0), ("de", 5)):
            lines = [" ".join(words[(i * 7 + j * 3 + shift) % len(words)] for j in range(3 + i % 5))
                     for i in range(n)]
            (tmp_path / f"{side}.{lang}").write_text("\n".join(lines) + "\n")
    gin = [f"--gin_param=TranslateFromFiles.{side}_{kind}='{tmp_path}/{side}.{lang}'"
           for side in ("train", "dev") for kind, lang in (("inputs", "en"), ("targets", "de"))]
    gin += ["--gin_param=TranslateFromFiles.train_shards=3", "--gin_param=TranslateFromFiles.approx_vocab_size=60"]
    local = datagen("--problem=translate_from_files", f"--data_dir={tmp_path / 'local'}", *gin)
    assert local.returncode == 0, local.stderr[-3000:]
    beam = datagen("--problem=translate_from_files", f"--data_dir={tmp_path / 'beam'}", *gin, "--beam")
    assert beam.returncode == 0, beam.stderr[-3000:]
    assert "translate_from_files train: 3 shard(s)" in beam.stdout and "300 examples" in beam.stdout
    assert len([n for n in shard_files(tmp_path / "beam") if n != "tmp"]) == 3 + 1 + 2  # shards, vocab, record
    for name in shard_files(tmp_path / "local"):
        if name != "tmp" and not name.endswith(".json"):  # the record holds the build's seconds
            assert sha256_of(tmp_path / "local" / name) == sha256_of(tmp_path / "beam" / name), name


def test_killed_beam_run_leaves_only_complete_shards_and_a_rerun_completes(tmp_path):
    usr = tmp_path / "slow_usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(SLOW_PROBLEM)
    data = tmp_path / "data"
    args = [f"--t2x_usr_dir={usr}", "--problem=slow_algo", f"--data_dir={data}", "--beam"]
    proc = datagen(*args, env={"SLOW": "1"}, start_new_session=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # a worker finished a shard and stalls in its next
            names = os.listdir(data) if data.is_dir() else []
            if any(SHARD_NAME.search(n) for n in names) and any(".run.tmp-" in n for n in names):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no shard was written in 90 s")
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its Beam workers
        proc.wait()
    finals = [n for n in os.listdir(data) if SHARD_NAME.search(n)]
    assert 0 < len(finals) < 5  # killed mid-way...
    assert [gu.verify_shard(str(data / n)) for n in finals] == [None] * len(finals)  # ...complete ones only
    assert any(".tmp-" in n for n in os.listdir(data))  # the stalled writer's run file
    assert not live_members(proc.pid), "a Beam worker survived SIGKILL of its process group"

    rerun = datagen(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not [n for n in os.listdir(data) if ".tmp-" in n]  # the dead writers' files removed
    ref = tmp_path / "ref"
    local = datagen(f"--t2x_usr_dir={usr}", "--problem=slow_algo", f"--data_dir={ref}")
    assert local.returncode == 0, local.stderr[-3000:]
    assert same_files(ref, data)


def test_bad_beam_options_and_flags_are_one_line_errors():
    from t2x.data import datagen as datagen_lib
    from t2x.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown Beam option --direct_num_worker \(did you mean "
                                          r"--direct_num_workers"):
        t2x_beam.pipeline_options("--runner=FnApiRunner --direct_num_worker=2")
    assert t2x_beam.pipeline_options("").get_all_options()["direct_num_workers"] == 2
    with pytest.raises(ConfigError, match="drop --num_processes/--task_id"):
        datagen_lib.generate("tiny_algo", num_processes=2, beam_pipeline_options="")


def test_unknown_runner_and_unclosed_quotes_are_refused_before_any_pipeline():
    from t2x.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--runner=NoSuchRunner is not a Beam runner; use one of DirectRunner, "
                                          r"FnApiRunner"):
        t2x_beam.pipeline_options("--runner=NoSuchRunner")
    with pytest.raises(ConfigError, match=r"--runner=DirectRuner is not a Beam runner \(did you mean DirectRunner"):
        t2x_beam.pipeline_options("--runner=DirectRuner")
    with pytest.raises(ConfigError, match=r"--runner=no_such.module.Runner is not a Beam runner \(cannot import"):
        t2x_beam.pipeline_options("--runner=no_such.module.Runner")
    with pytest.raises(ConfigError, match=r"cannot be split into flags \(No closing quotation\); close its quotes"):
        t2x_beam.pipeline_options("--runner='FnApiRunner --direct_num_workers=2")
    with pytest.raises(ConfigError, match=r"'runner=FnApiRunner' is not a --flag"):
        t2x_beam.pipeline_options("runner=FnApiRunner")
    assert t2x_beam.pipeline_options("--runner=FnApiRunner --project P").get_all_options()["project"] == "P"
