"""Learning-rate schedules: T2T's numbers at chosen steps, worked out by hand."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.training.learning_rate import (FACTOR_NAMES, T2XLearningRate,
                                        learning_rate_schedule, parse_factor_names)


def make_hparams(**overrides):
    """The registered basic_params1 with a plain constant schedule, then ``overrides``."""
    hp = registry.hparams("basic_params1")()
    values = dict(learning_rate_schedule="constant", hidden_size=64, optimizer="sgd")
    values.update(overrides)
    for name, value in values.items():
        hp.set_or_add(name, value)
    return hp


def rates(schedule, steps):
    return [float(schedule(step)) for step in steps]


def assert_rates(hparams, expected, train_steps=None):
    """``expected``: {step: rate}."""
    lr = learning_rate_schedule(hparams, train_steps=train_steps)
    steps = sorted(expected)
    np.testing.assert_allclose(rates(lr, steps), [expected[s] for s in steps], rtol=1e-5,
                               atol=1e-7)


# ------------------------------------------------------------------ product factors
def test_constant_linear_warmup_rsqrt_decay():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
                      learning_rate_constant=2.0, learning_rate_warmup_steps=100)
    # 50: 2 * 0.5 * 1/sqrt(100); 100: the peak 2 * 1 * 1/10; 400: 2 * 1 * 1/sqrt(400).
    assert_rates(hp, {0: 0.0, 50: 0.1, 100: 0.2, 400: 0.1, 10000: 0.02})


def test_spaces_and_empty_factors_are_ignored():
    hp = make_hparams(learning_rate_schedule=" constant * linear_warmup**rsqrt_decay ",
                      learning_rate_constant=2.0)
    assert learning_rate_schedule(hp).factor_names == ("constant", "linear_warmup",
                                                       "rsqrt_decay")
    assert_rates(hp, {50: 0.1})


def test_rsqrt_normalized_decay_and_hidden_size():
    hp = make_hparams(learning_rate_schedule="rsqrt_normalized_decay",
                      learning_rate_warmup_steps=100)
    assert_rates(hp, {0: 1.0, 50: 1.0, 100: 1.0, 400: 0.5, 10000: 0.1})
    hp = make_hparams(learning_rate_schedule="constant*rsqrt_hidden_size",
                      learning_rate_constant=3.0, hidden_size=64)
    assert_rates(hp, {0: 3.0 / 8, 7: 3.0 / 8})


def test_rsqrt_decay_without_warmup_is_finite_at_step_0():
    hp = make_hparams(learning_rate_schedule="rsqrt_decay", learning_rate_warmup_steps=0)
    assert_rates(hp, {0: 1.0, 1: 1.0, 4: 0.5})


def test_linear_warmup_without_warmup_is_one():
    hp = make_hparams(learning_rate_schedule="linear_warmup", learning_rate_warmup_steps=0)
    assert_rates(hp, {0: 1.0, 10: 1.0})


def test_linear_decay_uses_train_steps():
    hp = make_hparams(learning_rate_schedule="linear_decay", learning_rate_decay_steps=200)
    # (1000 - s) / 200 clipped to [0, 1]: flat until step 800, then down to 0 at 1000.
    assert_rates(hp, {0: 1.0, 800: 1.0, 900: 0.5, 950: 0.25, 1000: 0.0, 1200: 0.0},
                 train_steps=1000)


def test_linear_decay_reads_hparams_train_steps():
    hp = make_hparams(learning_rate_schedule="linear_decay", learning_rate_decay_steps=200)
    hp.add_hparam("train_steps", 1000)
    assert_rates(hp, {900: 0.5})


def test_linear_decay_without_train_steps_is_an_error_naming_the_fix():
    hp = make_hparams(learning_rate_schedule="constant*linear_decay")
    with pytest.raises(ValueError, match="linear_decay.*train_steps"):
        learning_rate_schedule(hp)


def test_exp_decay():
    hp = make_hparams(learning_rate_schedule="exp_decay", learning_rate_decay_rate=0.5,
                      learning_rate_warmup_steps=100, learning_rate_decay_steps=100)
    # 0.5 ** max((s - 100) / 100, 0)
    assert_rates(hp, {0: 1.0, 50: 1.0, 100: 1.0, 200: 0.5, 250: 0.5 ** 1.5, 300: 0.25})
    hp.learning_rate_decay_staircase = True
    assert_rates(hp, {250: 0.5, 299: 0.5, 300: 0.25})


def test_cosdecay():
    hp = make_hparams(learning_rate_schedule="cosdecay", learning_rate_warmup_steps=100,
                      learning_rate_decay_steps=1000)
    # 1 up to the end of warmup, then 0.5 * (1 + cos(pi * s / 1000)) of the step itself.
    assert_rates(hp, {0: 1.0, 100: 1.0, 101: 0.5 * (1 + math.cos(math.pi * 0.101)),
                      500: 0.5, 1000: 0.0})


def test_single_cycle_cos_decay():
    hp = make_hparams(learning_rate_schedule="single_cycle_cos_decay",
                      learning_rate_warmup_steps=100, learning_rate_decay_steps=400)
    # 0.5 * (1 + cos(pi * (max(s, 100) - 100) / 400))
    assert_rates(hp, {0: 1.0, 100: 1.0, 200: 0.5 * (1 + math.cos(math.pi / 4)), 300: 0.5,
                      500: 0.0})


def test_piecewise_factor_multiples_are_not_cumulative():
    hp = make_hparams(learning_rate_schedule="constant*piecewise", learning_rate_constant=2.0,
                      learning_rate_boundaries=[100, 200], learning_rate_multiples=[0.1, 0.01])
    assert_rates(hp, {0: 2.0, 100: 2.0, 101: 0.2, 200: 0.2, 201: 0.02, 10 ** 6: 0.02})


def test_piecewise_lists_are_validated():
    hp = make_hparams(learning_rate_schedule="piecewise", learning_rate_boundaries=[100, 200],
                      learning_rate_multiples=[0.1])
    with pytest.raises(ValueError, match="as many hparams.learning_rate_multiples"):
        learning_rate_schedule(hp)
    hp = make_hparams(learning_rate_schedule="piecewise", learning_rate_boundaries=[200, 100],
                      learning_rate_multiples=[0.1, 0.01])
    with pytest.raises(ValueError, match="strictly increasing"):
        learning_rate_schedule(hp)


def test_learning_rate_minimum_is_a_floor():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup",
                      learning_rate_minimum=0.05)
    assert_rates(hp, {0: 0.05, 10: 0.1, 100: 1.0})


def test_unknown_factor_names_the_nearest_valid_ones():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*rsqrt_decy")
    with pytest.raises(ValueError) as e:
        learning_rate_schedule(hp)
    message = str(e.value)
    assert "unknown learning-rate factor 'rsqrt_decy'" in message
    assert "nearest valid factors: rsqrt_decay" in message
    with pytest.raises(ValueError, match="valid factors: " + ", ".join(FACTOR_NAMES)):
        parse_factor_names("constant*zzz")


# ------------------------------------------------------------------------- legacy
def test_legacy_exp_warmup_then_no_decay():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate=0.1,
                      learning_rate_warmup_steps=100, optimizer="sgd")
    # warmup: 0.01 ** (1 - s / 100); then learning_rate * 1.
    assert_rates(hp, {0: 0.1 * 0.01, 50: 0.1 * 0.1, 75: 0.1 * 0.01 ** 0.25, 100: 0.1,
                      5000: 0.1})


def test_legacy_linear_warmup():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate=0.1,
                      learning_rate_warmup_schedule="linear", optimizer="sgd")
    # 0.35 + 0.65 * s / 100
    assert_rates(hp, {0: 0.035, 50: 0.1 * 0.675, 100: 0.1})


def test_legacy_unknown_warmup_schedule():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_warmup_schedule="linaer")
    with pytest.raises(ValueError, match="did you mean linear"):
        learning_rate_schedule(hp)


@pytest.mark.parametrize("optimizer,factor", [
    ("adam", 0.002), ("Adam", 0.002), ("adamw", 0.002), ("true_adam", 0.002),
    ("sgd", 1.0), ("momentum", 1.0), ("adafactor", 1.0), ("RMSProp", 1.0)])
def test_legacy_adam_factor(optimizer, factor):
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate=0.1, optimizer=optimizer)
    assert_rates(hp, {1000: 0.1 * factor})


def test_adam_factor_applies_under_legacy_only():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup",
                      learning_rate_constant=0.1, optimizer="adam")
    assert_rates(hp, {1000: 0.1})


def test_legacy_noam():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="noam",
                      learning_rate=1.0, hidden_size=64, learning_rate_warmup_steps=100,
                      optimizer="sgd")
    # 5000 / sqrt(64) * min((s + 1) * 100 ** -1.5, (s + 1) ** -0.5) = 625 * min(...)
    assert_rates(hp, {0: 625 * 0.001, 99: 625 * 0.1, 399: 625 * 0.05})
    hp.optimizer = "adam"
    hp.learning_rate = 0.1
    assert_rates(hp, {399: 625 * 0.05 * 0.1 * 0.002})


def test_legacy_cosine_cycle():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="cosine",
                      learning_rate=0.1, learning_rate_cosine_cycle_steps=1000,
                      learning_rate_warmup_steps=100, optimizer="sgd")
    # Position p = c - |c - (s mod 2c)| with c = 1000; rate 0.1 * 0.5 * (1 + cos(pi p / c)).
    assert_rates(hp, {
        50: 0.1 * 0.1,  # still in the exp warmup
        250: 0.1 * 0.5 * (1 + math.cos(math.pi / 4)),
        500: 0.05, 1000: 0.0, 1500: 0.05, 2000: 0.1,
        2250: 0.1 * 0.5 * (1 + math.cos(math.pi / 4))})


def test_legacy_exp_decay():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="exp",
                      learning_rate=0.1, learning_rate_decay_rate=0.5,
                      learning_rate_decay_steps=100, learning_rate_warmup_steps=100)
    assert_rates(hp, {100: 0.1, 200: 0.05, 250: 0.1 * 0.5 ** 1.5, 300: 0.025})
    hp.learning_rate_decay_staircase = True
    assert_rates(hp, {250: 0.05})


def test_legacy_sqrt_decay():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="sqrt",
                      learning_rate=0.1, learning_rate_warmup_steps=100)
    # 500 / sqrt(max(s - 100, 1))
    assert_rates(hp, {100: 50.0, 101: 50.0, 10100: 0.5})


def test_legacy_piecewise():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="piecewise",
                      learning_rate=0.1, learning_rate_warmup_steps=0,
                      learning_rate_boundaries=[1000, 2000],
                      learning_rate_multiples=[0.1, 0.01])
    assert_rates(hp, {0: 0.1, 1000: 0.1, 1001: 0.01, 2000: 0.01, 2001: 0.001})


def test_legacy_cyclelinear10x():
    hp = make_hparams(learning_rate_schedule="legacy",
                      learning_rate_decay_scheme="cyclelinear10x", learning_rate=1.0,
                      learning_rate_warmup_steps=100)
    # Linear between 0.3 and 3.3 with period 200: (1 - |(s mod 200 - 100) / 100| + 0.1) * 3
    assert_rates(hp, {100: 3.3, 150: 1.8, 200: 0.3, 250: 1.8, 300: 3.3})


def test_unknown_decay_scheme():
    hp = make_hparams(learning_rate_schedule="legacy", learning_rate_decay_scheme="cosin")
    with pytest.raises(ValueError) as e:
        learning_rate_schedule(hp)
    assert "unknown learning_rate_decay_scheme 'cosin'; did you mean cosine?" in str(e.value)
    assert "noam" in str(e.value)


# ------------------------------------------------------------ tensors and Keras
@pytest.mark.parametrize("step", [50, 50.0, np.int64(50), tf.constant(50),
                                  tf.constant(50, tf.int64), tf.constant(50.0)])
def test_accepts_ints_floats_and_tensors(step):
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
                      learning_rate_constant=2.0)
    rate = learning_rate_schedule(hp)(step)
    assert rate.dtype == tf.float32 and rate.shape == ()
    assert float(rate) == pytest.approx(0.1)


def test_inside_tf_function_with_a_variable_step():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
                      learning_rate_constant=2.0)
    lr = learning_rate_schedule(hp)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)

    @tf.function
    def current_rate():
        return lr(step)

    seen = []
    for value in (0, 50, 100, 400):
        step.assign(value)
        seen.append(float(current_rate()))
    np.testing.assert_allclose(seen, [0.0, 0.1, 0.2, 0.1], rtol=1e-6)
    assert current_rate.experimental_get_tracing_count() == 1


def test_keras_optimizer_uses_its_iterations():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*rsqrt_decay",
                      learning_rate_constant=2.0)
    optimizer = keras.optimizers.SGD(learning_rate=T2XLearningRate(hp))
    x = keras.Variable(0.0)
    optimizer.build([x])
    assert float(optimizer.learning_rate) == 0.0
    optimizer.iterations.assign(50)
    assert float(optimizer.learning_rate) == pytest.approx(0.1)

    @tf.function
    def train_step():
        optimizer.apply_gradients([(tf.constant(1.0), x)])

    train_step()  # at step 50: x -= 0.1 * 1
    assert float(x) == pytest.approx(-0.1)
    assert int(optimizer.iterations) == 51
    optimizer.iterations.assign(400)
    train_step()  # at step 400: x -= 0.1 * 1
    assert float(x) == pytest.approx(-0.2)


def test_schedule_config_round_trips():
    hp = make_hparams(learning_rate_schedule="constant*linear_warmup*linear_decay",
                      learning_rate_constant=2.0, learning_rate_boundaries=[10],
                      learning_rate_multiples=[0.5])
    schedule = T2XLearningRate(hp, train_steps=1000)
    config = schedule.get_config()
    assert config["train_steps"] == 1000 and "dropout" not in config["hparams"]
    json.dumps(config)  # plain JSON
    again = T2XLearningRate.from_config(json.loads(json.dumps(config)))
    assert rates(again, [50, 999]) == pytest.approx(rates(schedule, [50, 999]))

    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    restored = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert isinstance(restored._learning_rate, T2XLearningRate)
    restored.iterations.assign(50)
    assert float(restored.learning_rate) == pytest.approx(float(schedule(50)))
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(revived, T2XLearningRate) and revived.factor_names == schedule.factor_names
