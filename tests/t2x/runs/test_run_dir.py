"""RunDir: one rule chooses the checkpoint every reader of a run takes (the trainer resuming,
load_trained_model behind t2x-decoder, the exporter, warm starting and averaging), damaged
configuration files and unwritable directories are one-line errors. Real tiny runs."""

import errno
import logging as pylogging
import os
import shutil

import pytest
import tensorflow as tf

from conftest import make_tiny_mnist
from t2x import registry
from t2x.data.image import IdxImage2ClassProblem, idx_sources
from t2x.errors import ConfigError
from t2x.hparam import HParamsError, check_packed_batch, check_ranges, create_hparams
from t2x.runs.checkpoints import load_trained_model, restore_weights
from t2x.runs.run_dir import RunDir, RunDirError
from t2x.training.trainer import Trainer

PROBLEM = "run_dir_tiny_digits"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(problem class, data_dir, a run trained 6 steps with checkpoints 2, 4 and 6)."""
    root = tmp_path_factory.mktemp("rundir")
    table, _ = make_tiny_mnist(str(root / "raw"))
    if PROBLEM not in registry.list_problems():
        @registry.register_problem(PROBLEM)
        class RunDirTinyDigits(IdxImage2ClassProblem):
            train_shards = 1
            source_files = idx_sources(table, ["http://127.0.0.1:9/"])
    problem = registry.problem(PROBLEM)
    data_dir = str(root / "data")
    problem.generate_data(data_dir, str(root / "raw"))
    run = root / "run"
    _trainer(data_dir, run, train_steps=6).train()
    assert sorted(p for p in os.listdir(run) if p.endswith(".index")) == ["ckpt-2.index", "ckpt-4.index",
                                                                          "ckpt-6.index"]
    return data_dir, run


def _trainer(data_dir, out, **kw):
    args = dict(problem=registry.problem(PROBLEM), model_name="basic_fc_relu",
                hparams=create_hparams("basic_fc_tiny", "batch_size=8"), hparams_set="basic_fc_tiny",
                data_dir=data_dir, output_dir=str(out), train_steps=6, eval_steps=1, eval_every=1000,
                save_checkpoints_steps=2, keep_checkpoint_max=5, log_every=100)
    args.update(kw)
    return Trainer(**args)


def _copy(trained, tmp_path):
    data_dir, run = trained
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return data_dir, out


def _truncate(out, step, size=100):
    for name in os.listdir(out):
        if name.startswith(f"ckpt-{step}.data"):
            with open(out / name, "r+b") as f:
                f.truncate(size)


def _index(out, *names):
    tf.compat.v1.train.update_checkpoint_state(str(out), names[-1], all_model_checkpoint_paths=list(names))


DAMAGES = {
    # name: (damage, the step both readers take, text the warning names)
    "index_names_a_missing_checkpoint": (lambda out: _index(out, "ckpt-99"), 6, "ckpt-99"),
    "index_not_parseable": (lambda out: (out / "checkpoint").write_text("garbage {{{\n"), 6, "cannot be parsed"),
    "index_lists_an_older_one": (lambda out: _index(out, "ckpt-2"), 6, None),
    "index_missing": (lambda out: os.remove(out / "checkpoint"), 6, None),
    "latest_data_truncated": (lambda out: _truncate(out, 6), 4, "its data is truncated (100 of at least"),
    "latest_data_file_missing": (lambda out: [os.remove(out / n) for n in os.listdir(out)
                                              if n.startswith("ckpt-6.data")], 4, "its data file is missing"),
    "latest_index_file_missing_but_named": (lambda out: os.remove(out / "ckpt-6.index"), 4, "its files are missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_the_trainer_and_load_trained_model_pick_the_same_whole_checkpoint(damage, trained, tmp_path, caplog):
    data_dir, out = _copy(trained, tmp_path)
    make_damage, step, warned = DAMAGES[damage]
    make_damage(out)
    with caplog.at_level(pylogging.WARNING):
        _, _, _, path = load_trained_model(str(out))
    assert path == str(out / f"ckpt-{step}")
    if warned:
        assert any(warned in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    trainer = _trainer(data_dir, out)
    assert trainer.restore() == step and trainer.restored_path == path
    assert RunDir(str(out)).checkpoint() == path  # what the exporter and warm starting take


def test_the_trainer_rebuilds_a_stale_index_and_resumes_instead_of_restarting(trained, tmp_path):
    data_dir, out = _copy(trained, tmp_path)
    _index(out, "ckpt-99")
    trainer = _trainer(data_dir, out, train_steps=8)
    trainer.train()
    assert int(trainer.step.numpy()) == 8
    state = tf.train.get_checkpoint_state(str(out))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6",
                                                                               "ckpt-8"]


def test_an_explicit_damaged_checkpoint_path_is_one_line_naming_it(trained, tmp_path):
    _, out = _copy(trained, tmp_path)
    _truncate(out, 4)
    with pytest.raises(RunDirError) as error:
        load_trained_model(str(out), checkpoint_path=str(out / "ckpt-4"))
    assert str(error.value) == (f"--checkpoint_path={out}/ckpt-4 is damaged (its data is truncated (100 of at least "
                                f"{_need(out / 'ckpt-6')} bytes)): pass another --checkpoint_path, or none for the "
                                "newest whole checkpoint")
    assert load_trained_model(str(out))[3] == str(out / "ckpt-6")


def _need(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    total = 0
    for key, dtype in dtypes.items():
        if dtype != tf.string:
            count = 1
            for d in shapes[key]:
                count *= d
            total += count * dtype.size
    return total


def test_a_checkpoint_deleted_between_choosing_and_reading_is_chosen_again(trained, tmp_path, caplog):
    _, out = _copy(trained, tmp_path)
    model = load_trained_model(str(out))[0]
    run = RunDir(str(out))
    reads = []

    def read_while_a_trainer_rotates(path):
        reads.append(os.path.basename(path))
        if len(reads) == 1:  # the trainer deletes the chosen (old) checkpoint as the reader starts
            for name in os.listdir(out):
                if name.startswith("ckpt-2."):
                    os.remove(out / name)
        restore_weights(model, path)

    with caplog.at_level(pylogging.WARNING):
        read = run.read_checkpoint(read_while_a_trainer_rotates, chosen=str(out / "ckpt-2"))
    assert reads == ["ckpt-2", "ckpt-6"] and read == str(out / "ckpt-6")
    assert any("ckpt-2 vanished while being read" in r.getMessage() for r in caplog.records)

    def always_vanishes(path):
        for name in os.listdir(out):
            if name.startswith(os.path.basename(path) + "."):
                os.remove(out / name)
        restore_weights(model, path)

    with pytest.raises(RunDirError, match="vanished twice while being read .* pass --checkpoint_path"):
        run.read_checkpoint(always_vanishes)


def test_every_truncated_checkpoint_is_an_error_not_a_restart(trained, tmp_path):
    data_dir, out = _copy(trained, tmp_path)
    for step in (2, 4, 6):
        _truncate(out, step, 10)
    with pytest.raises(RunDirError, match=r"no checkpoint of .* can be read \(ckpt-6: its data is truncated "
                                          r"\(10 of at least \d+ bytes\); ckpt-4: .*; ckpt-2: "):
        _trainer(data_dir, out).restore()


def test_warm_start_partial_is_allowed_and_on_a_resumed_run_is_reported_not_applied(trained, tmp_path, caplog):
    data_dir, run = trained
    source = tmp_path / "source"
    shutil.copytree(run, source)
    # another width: only the logits bias (10 classes) matches; a partial warm start is allowed
    other = _trainer(data_dir, tmp_path / "other", warm_start_from=str(source),
                     hparams=create_hparams("basic_fc_tiny", "batch_size=8,hidden_size=7"))
    other.train()
    assert other.warm_started[0] == ["logits/bias"]
    resumed = _trainer(data_dir, source, train_steps=6, warm_start_from=str(tmp_path / "other"))
    with caplog.at_level(pylogging.WARNING):
        resumed.train()
    assert resumed.warm_started is None
    assert any(r.getMessage().startswith("resuming from ckpt-6 (step 6): --warm_start_from=") and
               "not applied" in r.getMessage() for r in caplog.records)


def test_a_damaged_hparams_json_names_the_file(trained, tmp_path):
    _, out = _copy(trained, tmp_path)
    (out / "hparams.json").write_text('{"batch_size": 8,')
    with pytest.raises(RunDirError, match=rf"^{out}/hparams.json is damaged, not JSON \(.*\): restore it"):
        load_trained_model(str(out))
    (out / "hparams.json").write_text("[1, 2]")
    with pytest.raises(RunDirError, match="hparams.json is damaged \\(a JSON list, not an object"):
        RunDir(str(out)).read_hparams()


def test_an_unwritable_output_dir_is_one_line_naming_it(trained, tmp_path, monkeypatch):
    data_dir, run = trained
    real_open = os.open

    def full_disk(path, *args, **kw):
        if str(path).endswith("/lock"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", full_disk)
    with pytest.raises(RunDirError) as error:
        _trainer(data_dir, tmp_path / "new").train()
    assert str(error.value) == (f"--output_dir={tmp_path}/new cannot be written (No space left on device): free "
                                "disk space, fix its permissions, or use another --output_dir")
    assert not (tmp_path / "new").exists()  # refused before anything was written
    monkeypatch.undo()

    out = tmp_path / "run"
    shutil.copytree(run, out)
    trainer = _trainer(data_dir, out, train_steps=8)
    trainer._build()

    def no_space(*args, **kw):
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt-8_temp; No space left on device")

    monkeypatch.setattr(trainer.manager, "save", no_space)
    with pytest.raises(RunDirError, match=rf"^--output_dir={out} cannot be written \(ckpt-8_temp; No space"):
        trainer.train()
    assert RunDir(str(out)).checkpoint() == str(out / "ckpt-6")  # the earlier checkpoints are kept


def test_hparam_ranges_refuse_bad_values_and_accept_every_registered_set():
    from t2x import catalogue

    catalogue.load()
    for name in registry.list_hparams():
        check_ranges(registry.hparams(name)())
        check_packed_batch(registry.hparams(name)())
    bad = {"batch_size=0": "batch_size must be >= 1 and <= 2147483647",
           "batch_size=2147483648": "batch_size must be >= 1 and <= 2147483647",
           "hidden_size=-2": "hidden_size must be >= 1", "num_hidden_layers=0": "num_hidden_layers must be >= 1",
           "dropout=1.0": "dropout must be in [0.0, 1.0)", "dropout=-0.1": "dropout must be in [0.0, 1.0)",
           "learning_rate=-1.0": "learning_rate must be >= 0.0", "max_length=-1": "max_length must be >= 0",
           "label_smoothing=1.5": "label_smoothing must be in [0.0, 1.0)"}
    for override, message in bad.items():
        with pytest.raises(HParamsError) as error:
            create_hparams("basic_fc_tiny", override)
        assert f"hparam {override} is out of range: {message}" in str(error.value)
    create_hparams("basic_fc_tiny", "batch_size=2147483647,dropout=0.0,learning_rate=0.0,max_length=0")
    with pytest.raises(ConfigError, match=r"num_heads=0 is out of range: num_heads must be >= 1"):
        create_hparams("transformer_test", "num_heads=0")


def test_packed_needs_batch_size_of_at_least_packed_length():
    hp = create_hparams("transformer_test", "packed=true,packed_length=256,batch_size=16")
    with pytest.raises(HParamsError, match=r"packed=true with batch_size=16 < packed_length=256: .* raise "
                                           r"batch_size to 256 or more, or lower packed_length"):
        check_packed_batch(hp)
    check_packed_batch(create_hparams("transformer_test", "packed=true,packed_length=256,batch_size=256"))
    check_packed_batch(create_hparams("transformer_test", "packed=true,packed_length=256,batch_size=16,"
                                                          "use_fixed_batch_size=true"))  # 16 rows: honest
    with pytest.raises(HParamsError, match="batch_size=16 < packed_length=41"):  # default: max_length
        check_packed_batch(create_hparams("transformer_test", "packed=true,max_length=41,batch_size=16"))
