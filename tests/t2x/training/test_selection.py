"""Model selection: early stopping, the best checkpoint (and resuming both), ranged hparams
and their sampling."""

import json
import os
import random

import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.errors import ConfigError
from t2x.hparam import HParamsError, RangedHParams, create_hparams
from t2x.runs.run_dir import RunDir

from test_trainer import make, tiny_hparams


@pytest.fixture
def learnable(tiny_problem_cls, tiny_mnist, tmp_path):
    """The tiny problem with its train split as dev (its dev labels are random: nothing to
    learn), so that evaluation improves while the model learns."""
    class TrainAsDev(tiny_problem_cls):
        def data_filepaths(self, data_dir, dataset_split):
            return super().data_filepaths(data_dir, "train")

    problem = TrainAsDev()
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, tiny_mnist[0])
    return problem, data_dir


def plateau_hparams():
    """Learns for 4 steps, then the rate is 0: eval improves at steps 2 and 4, then plateaus."""
    return tiny_hparams(learning_rate_schedule="constant*piecewise", learning_rate_constant=0.01,
                        learning_rate_boundaries=[3], learning_rate_multiples=[0.0], dropout=0.0)


def selecting(problem, data_dir, out, train_steps, **kw):
    kw.setdefault("early_stopping_metric", "eval/loss")
    return make(problem, data_dir, out, hp=plateau_hparams(), train_steps=train_steps, eval_every=2,
                save_checkpoints_steps=2, num_summary_images=0, **kw)


def model_weights(checkpoint):
    reader = tf.train.load_checkpoint(checkpoint)
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("model_weights/"))
    assert names
    return {n: reader.get_tensor(n) for n in names}


def test_patience_2_stops_once_eval_stops_improving_and_keeps_the_best(learnable, tmp_path):
    problem, data_dir = learnable
    out = tmp_path / "run"
    trainer = selecting(problem, data_dir, out, 40, early_stopping_patience=2, keep_best_checkpoint=True)
    trainer.run("train_and_evaluate")
    assert int(trainer.step.numpy()) == 8  # evaluations at 2, 4 (best), 6, 8: two without improvement
    record = RunDir(str(out)).read_best()
    assert record["best_step"] == 4 and record["stopped_early"] and record["evals_since_best"] == 2
    assert record["goal"] == "min" and record["metric"] == "loss"
    best = RunDir(str(out / "best"))
    assert best.latest_checkpoint().endswith("ckpt-4") and best.read_info().problem == problem.full_name
    kept, original = model_weights(best.latest_checkpoint()), model_weights(str(out / "ckpt-4"))
    for name in original:
        np.testing.assert_array_equal(kept[name], original[name])
    assert any(not np.array_equal(kept[n], w) for n, w in model_weights(str(out / "ckpt-2")).items())
    # Re-running the finished run trains nothing more.
    again = selecting(problem, data_dir, out, 40, early_stopping_patience=2, keep_best_checkpoint=True)
    again.run("train_and_evaluate")
    assert int(again.step.numpy()) == 8


def test_resuming_keeps_the_best_so_far_and_the_patience_count(learnable, tmp_path):
    problem, data_dir = learnable
    out = tmp_path / "run"
    first = selecting(problem, data_dir, out, 6, early_stopping_patience=2)
    first.run("train_and_evaluate")  # evaluations at 2, 4 (best) and 6 (1 without improvement)
    assert RunDir(str(out)).read_best()["evals_since_best"] == 1
    resumed = selecting(problem, data_dir, out, 40, early_stopping_patience=2)
    resumed.run("train_and_evaluate")
    assert int(resumed.step.numpy()) == 8  # one more evaluation spent the patience
    record = RunDir(str(out)).read_best()
    assert record["best_step"] == 4 and record["stopped_early"]


def test_selection_options_are_checked(learnable, tmp_path):
    problem, data_dir = learnable
    with pytest.raises(ConfigError, match="--early_stopping_metric=eval/<metric>"):
        make(problem, data_dir, tmp_path / "a", early_stopping_patience=2)
    with pytest.raises(ConfigError, match="unknown metric 'acuracy'.*did you mean accuracy"):
        make(problem, data_dir, tmp_path / "b", early_stopping_metric="eval/acuracy")
    from t2x.training.selection import SelectionError

    with pytest.raises(SelectionError, match="eval/bleu is not reported by this run .*eval/accuracy"):
        selecting(problem, data_dir, tmp_path / "c", 4, early_stopping_metric="eval/bleu").run("train_and_evaluate")


def test_ranged_hparams_api_and_sampling_stay_in_range():
    rhp = RangedHParams()
    rhp.set_float("learning_rate", 1e-3, 1.0, scale=rhp.LOG_SCALE)
    rhp.set_int("num_hidden_layers", 1, 4)
    rhp.set_discrete("hidden_size", [256, 64, 128])
    rhp.set_categorical("initializer", ["orthogonal", "uniform_unit_scaling"])
    specs = rhp.specs()
    assert specs["hidden_size"] == {"type": "discrete", "values": [64, 128, 256]}
    assert specs["learning_rate"]["scale"] == "LOG_SCALE"
    rng = random.Random(0)
    points = [rhp.sample(rng) for _ in range(400)]
    lrs = [p["learning_rate"] for p in points]
    assert all(1e-3 <= v <= 1.0 for v in lrs)
    assert 0.35 < sum(v < 0.0316 for v in lrs) / len(lrs) < 0.65  # log-uniform: half below the geometric mid
    assert {p["num_hidden_layers"] for p in points} == {1, 2, 3, 4}
    assert {p["hidden_size"] for p in points} == {64, 128, 256}
    with pytest.raises(HParamsError, match="set twice"):
        rhp.set_int("num_hidden_layers", 1, 2)
    with pytest.raises(HParamsError, match="low 2 must be < high 1"):
        RangedHParams().set_float("x", 2, 1)
    with pytest.raises(HParamsError, match="log scale needs low > 0"):
        RangedHParams().set_float("x", 0.0, 1.0, scale=RangedHParams.LOG_SCALE)
    bad = RangedHParams()
    bad.set_float("learning_rat", 0.1, 1.0)
    with pytest.raises(HParamsError, match="'learning_rat' is not an hparam.*learning_rate"):
        bad.check(create_hparams("basic_fc_small"))


@pytest.mark.parametrize("range_name,hparams_set", [
    ("basic_fc_range", "basic_fc_small"), ("shake_shake_range", "shake_shake_quick"),
    ("transformer_base_range", "transformer_base"), ("lstm_range", "lstm_seq2seq")])
def test_the_catalogue_ranges_fit_their_sets_and_optuna_samples_within_them(range_name, hparams_set):
    import optuna

    from t2x.tuning.tuner import overrides_string, search_space, suggest

    assert range_name in registry.list_ranged_hparams()
    rhp = search_space(range_name)
    hp = create_hparams(hparams_set)
    rhp.check(hp)
    specs = rhp.specs()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        point = suggest(trial, specs)
        for name, value in point.items():
            spec = specs[name]
            if spec["type"] in ("discrete", "categorical"):
                assert value in spec["values"]
            else:
                assert spec["min"] <= value <= spec["max"]
        # The trial's --hparams string parses back to the same values on its set.
        again = create_hparams(hparams_set, overrides_string("", point))
        assert {k: again.get(k) for k in point} == pytest.approx(point)
        study.tell(trial, 0.0)
