"""universal_transformer (+ _encoder): T2T's sets, weight tying, the step and position signals,
ACT's halting arithmetic and ponder loss, hparams refused with one line, cached decoding equal
to the slow path (basic and ACT, greedy and beam), and exact resume with the trainer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import decoding, registry
from t2x.hparam import HParams, HParamsError, create_hparams
from t2x.layers import act as act_lib
from t2x.layers.timing import StepTimingSignal, get_timing_signal_1d, timing_signal_at
from t2x.model import model_for, random_state_variables
from t2x.models.universal_transformer import UniversalTransformer, UniversalTransformerEncoder

EOS = 1
SEQ2SEQ = HParams(modality={"inputs": "symbol", "targets": "symbol"}, vocab_size={"inputs": 8, "targets": 8},
                  loss_multiplier=1.0, target_space_id=5)


def ut_model(problem_hparams=SEQ2SEQ, name="universal_transformer", seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    hp = registry.hparams("universal_transformer_test")()
    hp.override_from_dict(overrides)
    return model_for(name, hp, problem_hparams)


def copy_batch(n=8, length=6, seed=0):
    rng = np.random.RandomState(seed)
    x = np.zeros((n, length + 1), np.int64)
    for row in range(n):
        k = rng.randint(2, length + 1)
        x[row, :k] = rng.randint(2, 8, size=k)
        x[row, k] = EOS
    return {"inputs": tf.constant(x), "targets": tf.constant(x)}


# ------------------------------------------------------------------- registry / sets --

@pytest.mark.parametrize("name,hidden,filt,heads,steps,act_steps", [
    ("universal_transformer_base", 1024, 4096, 16, 6, 12), ("universal_transformer_small", 512, 2048, 8, 6, 12),
    ("universal_transformer_tiny", 128, 512, 4, 8, 4), ("universal_transformer_teeny", 128, 128, 2, 10, 12)])
def test_t2t_sets(name, hidden, filt, heads, steps, act_steps):
    hp = registry.hparams(name)()
    assert (hp.hidden_size, hp.filter_size, hp.num_heads, hp.num_rec_steps, hp.act_max_steps) == \
        (hidden, filt, heads, steps, act_steps)
    assert (hp.recurrence_type, hp.add_position_timing_signal, hp.add_step_timing_signal, hp.pos,
            hp.step_timing_signal_type, hp.act_type, hp.act_epsilon, hp.act_loss_weight) == \
        ("basic", True, True, "none", "learned", "basic", 0.01, 0.01)
    adaptive = registry.hparams("adaptive_" + name)()
    assert adaptive.recurrence_type == "act" and adaptive.hidden_size == hidden
    assert "num_encoder_layers" not in hp and "ffn_layer" not in hp  # keys a tied stack does not read
    assert registry.hparams("universal_transformer_position_random_timing_tiny")().position_start_index == "random"
    assert registry.model("universal_transformer") is UniversalTransformer
    assert registry.model("universal_transformer_encoder") is UniversalTransformerEncoder


@pytest.mark.parametrize("overrides,message", [
    ("recurrence_type=lstm", "recurrence_type='lstm' is not supported; use 'basic' or 'act'"),
    ("recurrence_type=act,act_type=random", "act_type='random' is not supported"),
    ("recurrence_type=act,act_type=global", "act_type='global' halts on the mean over all positions"),
    ("pos=timing", "adds the position signal twice; set pos=none"),
    ("transformer_ffn_type=sepconv", "transformer_ffn_type='sepconv' is not supported; use 'fc'"),
    ("num_rec_steps=0", "num_rec_steps=0 is out of range"),
    ("add_position_timing_signal=false,position_start_index=random", "needs add_position_timing_signal=true"),
    ("position_start_max=100", "it needs position_start_index='random'"),
    ("position_start_index=random,position_start_max=-1", "position_start_max=-1 is out of range"),
])
def test_bad_hparams_are_one_line(overrides, message):
    hp = create_hparams("universal_transformer_test", overrides)
    with pytest.raises(HParamsError) as e:
        model_for("universal_transformer", hp, SEQ2SEQ)
    assert message in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------ layers --

def test_timing_signal_at_offsets_and_step_signal():
    # The signal of positions 3..7 is rows 3..7 of the table: an offset shifts positions.
    np.testing.assert_allclose(get_timing_signal_1d(5, 6, start_index=3).numpy()[0],
                               get_timing_signal_1d(8, 6).numpy()[0, 3:], atol=1e-6)
    np.testing.assert_allclose(timing_signal_at(tf.constant([[1, 2], [4, 5]]), 7).numpy()[1],
                               get_timing_signal_1d(6, 7).numpy()[0, 4:6], atol=1e-6)
    x = tf.zeros([2, 3, 4])
    sinusoid = StepTimingSignal(5, "sinusoid")
    np.testing.assert_allclose(sinusoid(x, step=2).numpy()[1, 2], get_timing_signal_1d(5, 4).numpy()[0, 2], atol=1e-6)
    learned = StepTimingSignal(5, "learned")
    out = learned(x, step=tf.constant(3)).numpy()
    np.testing.assert_allclose(out[0, 0], learned.signal.numpy()[3, 0] * 2.0, atol=1e-6)  # times sqrt(4)
    assert learned.signal.shape == (5, 1, 4)


def test_halting_arithmetic():
    """p = 0.6 then 0.6 with threshold 0.99: the second step passes it, so the position
    halts there with remainder 0.4; weights 0.6, 0.4; ponder N + R = 2.4. A position at
    p = 0.1 never halts within 3 steps: N = 3, R = 0."""
    hp = rem = n = tf.zeros([1, 2])
    p = tf.constant([[0.6, 0.1]])
    weights = []
    for _ in range(3):
        w, hp, rem, n = act_lib.halting_update(p, hp, rem, n, 0.99)
        weights.append(w.numpy()[0])
    np.testing.assert_allclose(np.array(weights), [[0.6, 0.1], [0.4, 0.1], [0.0, 0.1]], atol=1e-6)
    np.testing.assert_allclose(hp.numpy(), [[1.0, 0.3]], atol=1e-6)
    np.testing.assert_allclose((n + rem).numpy(), [[2.4, 3.0]], atol=1e-6)
    # basic ACT blends: 0.6 * a, then 0.4 * b + 0.6 * (0.6 a); accumulated sums: 0.6 a + 0.4 b.
    a, b = tf.ones([1, 1, 1]), 2.0 * tf.ones([1, 1, 1])
    out = act_lib.blend(act_lib.blend(tf.zeros([1, 1, 1]), a, tf.constant([[0.6]]), "basic"), b,
                        tf.constant([[0.4]]), "basic")
    assert float(out[0, 0, 0]) == pytest.approx(0.4 * 2 + 0.6 * 0.6)
    out = act_lib.blend(act_lib.blend(tf.zeros([1, 1, 1]), a, tf.constant([[0.6]]), "accumulated"), b,
                        tf.constant([[0.4]]), "accumulated")
    assert float(out[0, 0, 0]) == pytest.approx(1.4)


def test_act_loop_stops_when_every_position_halted_and_skips_padding():
    calls = []

    class Constant(keras.layers.Layer):
        def call(self, state):
            return tf.fill(tf.shape(state)[:2], 0.6)

    def transform(state):
        calls.append(1)
        return state + 1.0

    out, ponder, rem = act_lib.adaptive_computation(
        tf.zeros([1, 3, 2]), lambda s, t: s, transform, Constant(), max_steps=10, epsilon=0.01,
        nonpadding=tf.constant([[1.0, 1.0, 0.0]]))
    assert len(calls) == 2  # halted at step 2 of at most 10 (eager: one call per step)
    np.testing.assert_allclose(ponder.numpy(), [[2, 2, 0]])
    np.testing.assert_allclose(rem.numpy(), [[0.4, 0.4, 0.0]], atol=1e-6)
    np.testing.assert_allclose(out.numpy()[0, 0], [0.4 * 2 + 0.6 * 0.6] * 2, atol=1e-6)
    assert float(act_lib.ponder_cost(ponder, rem, tf.constant([[1.0, 1.0, 0.0]]))) == pytest.approx(2.4)


# ------------------------------------------------------------------------ model --

def test_one_layer_is_applied_num_rec_steps_times():
    features = copy_batch()
    three, six = ut_model(num_rec_steps=3), ut_model(num_rec_steps=6)
    a, b = three(features).numpy(), six(features).numpy()
    shapes = lambda m: sorted(tuple(v.shape) for v in m.weights if "step_timing" not in v.path)
    assert shapes(three) == shapes(six)  # the same weights however many steps ...
    assert [v.shape for v in six.weights if "step_timing" in v.path][0][0] == 6  # ... but the step signal
    assert a.shape == b.shape == (8, 7, 8) and np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("recurrence", ["basic", "act"])
def test_decoder_only_and_causal(recurrence):
    lm = HParams(modality={"targets": "symbol"}, vocab_size={"targets": 8}, loss_multiplier=1.0)
    model = ut_model(lm, recurrence_type=recurrence)
    targets = copy_batch(2)["targets"].numpy()
    base = model({"targets": tf.constant(targets)}).numpy()
    assert base.shape == (2, 7, 8)
    assert not any("encoder" in v.path or "encdec" in v.path for v in model.weights)
    for k in range(targets.shape[1]):
        changed = targets.copy()
        changed[:, k] = np.where(changed[:, k] == 2, 3, 2)
        logits = model({"targets": tf.constant(changed)}).numpy()
        np.testing.assert_allclose(logits[:, :k + 1], base[:, :k + 1], atol=1e-5)


def test_ponder_loss_in_training_and_ponder_sums():
    features = copy_batch()
    model = ut_model(recurrence_type="act", label_smoothing=0.0, layer_prepostprocess_dropout=0.0,
                     attention_dropout=0.0, relu_dropout=0.0, act_loss_weight=0.5)
    logits = model(features, training=True)
    ponder = float(model.ponder_cost())
    assert 2.0 <= ponder <= 2 * 4.0 + 2.0  # encoder + decoder, each in [1, act_max_steps + 1)
    num_eval, den = model.loss_fn(logits, features, training=False)
    num_train, den_train = model.loss_fn(logits, features, training=True)
    assert float(den) == float(den_train) == float(tf.reduce_sum(tf.cast(features["targets"] > 0, tf.float32)))
    assert float(num_train / den) == pytest.approx(float(num_eval / den) + 0.5 * ponder, rel=1e-5)
    sums = model.step_sums(features)
    assert float(sums["act_ponder_sum"] / sums["act_ponder_count"]) == pytest.approx(ponder, rel=1e-5)
    assert model.eval_metrics() == ["act_ponder_cost"]
    from t2x import metrics
    assert metrics.step_results(["act_ponder_cost"], {"act_ponder_sum": 5.0, "act_ponder_count": 2.0}) == \
        {"act_ponder_cost": 2.5}
    # The ponder cost has a gradient into the halting unit.
    with tf.GradientTape() as tape:
        model(features, training=True)
        cost = model.ponder_cost()
    halting = [v for v in model.trainable_variables if "halting" in v.path]
    assert halting and all(g is not None for g in tape.gradient(cost, halting))


def test_random_position_offsets_only_in_training_and_in_the_random_state():
    features = copy_batch()
    model = ut_model(position_start_index="random", layer_prepostprocess_dropout=0.0, attention_dropout=0.0,
                     relu_dropout=0.0)
    a, b = model(features, training=True).numpy(), model(features, training=True).numpy()
    assert np.abs(a - b).max() > 1e-4  # other offsets, no dropout
    np.testing.assert_array_equal(model(features).numpy(), model(features).numpy())
    assert any("position_offsets" in v.path for v in random_state_variables(model))
    plain = ut_model(layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0)
    np.testing.assert_array_equal(plain(features, training=True).numpy(), plain(features, training=True).numpy())


def test_position_start_max_bounds_the_random_offsets():
    """Offsets from [0, position_start_max): a 5-long batch sees positions past 5 (length
    generalisation), never at or past the bound; 0 keeps T2T's [0, length)."""
    features = copy_batch()
    length = int(features["inputs"].shape[1])
    for bound, low, high in ((300, length, 300), (0, 0, length)):
        model = ut_model(position_start_index="random", position_start_max=bound)
        model(features, training=True)
        model._training = True
        drawn = np.concatenate([model._offset(tf.zeros([64, length, 4])).numpy() for _ in range(8)])
        assert drawn.min() >= 0 and drawn.max() < high and drawn.max() >= low
        assert len(set(drawn.tolist())) > min(high, 64) // 2


@pytest.mark.parametrize("recurrence", ["basic", "act"])
def test_encoder_only_class_label_and_per_position(recurrence):
    classify = HParams(modality={"inputs": "symbol", "targets": "class_label"},
                       vocab_size={"inputs": 8, "targets": 3}, loss_multiplier=1.0)
    model = ut_model(classify, "universal_transformer_encoder", recurrence_type=recurrence)
    inputs = copy_batch(4)["inputs"]
    logits = model({"inputs": inputs, "targets": tf.constant([[0], [1], [2], [1]])}).numpy()
    assert logits.shape == (4, 1, 3)
    padded = model({"inputs": tf.pad(inputs, [[0, 0], [0, 3]]), "targets": tf.zeros([4, 1], tf.int64)}).numpy()
    np.testing.assert_allclose(padded, logits, atol=1e-5)  # padding is not pooled
    predicted = model.infer({"inputs": inputs})
    assert predicted["outputs"].shape == (4, 1)
    tag = HParams(modality={"inputs": "symbol", "targets": "symbol"}, vocab_size={"inputs": 8, "targets": 5},
                  loss_multiplier=1.0)
    tagger = ut_model(tag, "universal_transformer_encoder", recurrence_type=recurrence)
    assert tagger({"inputs": inputs, "targets": inputs % 5}).shape == (4, 7, 5)


def test_act_global_is_for_the_encoder():
    classify = HParams(modality={"inputs": "symbol", "targets": "class_label"},
                       vocab_size={"inputs": 8, "targets": 3}, loss_multiplier=1.0)
    model = ut_model(classify, "universal_transformer_encoder", recurrence_type="act", act_type="global")
    model({"inputs": copy_batch(2)["inputs"], "targets": tf.constant([[0], [1]])}, training=True)
    assert float(model.ponder_cost()) >= 1.0


# --------------------------------------------------------------------- decoding --

@pytest.fixture(scope="module", params=["basic", "act"])
def trained(request):
    """A tiny universal transformer trained a little to copy sequences over {2..7}."""
    model = ut_model(recurrence_type=request.param, hidden_size=32, filter_size=64, label_smoothing=0.0,
                     layer_prepostprocess_dropout=0.0)
    features = copy_batch(64, seed=1)
    model(features, training=True)
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            num, den = model.loss_fn(model(features, training=True), features)
            loss = num / den
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(60)]
    assert losses[-1] < 0.7 * losses[0], (losses[0], losses[-1])
    return model, features["inputs"].numpy()[:16]


def _infer(model, inputs, **kwargs):
    return tf.function(lambda x: model.infer({"inputs": x}, **kwargs))(tf.constant(inputs))


@pytest.mark.parametrize("beam_size", [1, 3])
def test_cached_decoding_equals_slow_decoding(trained, beam_size):
    model, inputs = trained
    fast = _infer(model, inputs, beam_size=beam_size, use_cache=True, extra_length=3)
    slow = _infer(model, inputs, beam_size=beam_size, use_cache=False, extra_length=3)
    np.testing.assert_array_equal(fast["outputs"].numpy(), slow["outputs"].numpy())
    np.testing.assert_allclose(fast["scores"].numpy(), slow["scores"].numpy(), rtol=1e-4, atol=1e-4)
    assert len({tuple(decoding.strip_ids(o)) for o in fast["outputs"].numpy().reshape(-1, fast["outputs"].shape[-1])}) > 1


def test_cached_step_logits_equal_the_full_pass(trained):
    """Position by position, the cached step gives the teacher-forced logits of the full pass."""
    model, inputs = trained
    targets = inputs[:4]
    full = model({"inputs": tf.constant(inputs[:4]), "targets": tf.constant(targets)}).numpy()
    length = targets.shape[1]
    fn, cache = model.fast_decode_fn({"inputs": tf.constant(inputs[:4])}, 4, length, 1)
    ids = tf.constant(targets, tf.int32)
    for i in range(length):
        logits, cache = fn(ids, tf.constant(i), cache)
        np.testing.assert_allclose(logits.numpy(), full[:, i], atol=1e-4)


# ------------------------------------------------------------------ exact resume --

@pytest.fixture(scope="module")
def tiny_algo_data(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("algo"))
    registry.problem("tiny_algo").generate_data(data_dir, data_dir + "/tmp")
    return data_dir


def test_a_stopped_and_resumed_act_run_equals_the_uninterrupted_one(tiny_algo_data, tmp_path):
    """ACT with dropout and random position offsets: 4 steps straight = 2 + restore + 2, to the
    last bit (dropout masks and offsets come from seed generators in the checkpoint)."""
    from t2x.training.trainer import Trainer

    overrides = ("batch_size=128,recurrence_type=act,position_start_index=random,layer_prepostprocess_dropout=0.3,"
                 "attention_dropout=0.3,relu_dropout=0.3")

    def trainer(out, steps):
        return Trainer(problem=registry.problem("tiny_algo"), model_name="universal_transformer",
                       hparams=create_hparams("universal_transformer_test", overrides), hparams_set="test",
                       data_dir=tiny_algo_data, output_dir=str(out), train_steps=steps, eval_steps=1,
                       eval_every=1000, save_checkpoints_steps=1000, log_every=1000)

    straight = trainer(tmp_path / "straight", 4)
    straight.train()
    trainer(tmp_path / "resumed", 2).train()
    resumed = trainer(tmp_path / "resumed", 4)
    resumed.train()
    assert int(resumed.step.numpy()) == 4
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in
               zip(straight.model.weights, resumed.model.weights))
    assert diff == 0.0
    states = [v.numpy() for v in random_state_variables(resumed.model)]
    assert any(s[1] > 0 for s in states), states
    # The ponder cost of the evaluation is in TensorBoard (eval/act_ponder_cost).
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    metrics = resumed.evaluate()
    assert 1.0 <= metrics["act_ponder_cost"] <= 2 * (4.0 + 1.0)
    events = EventAccumulator(str(tmp_path / "resumed" / "eval"), size_guidance={TENSORS: 0})
    events.Reload()
    logged = events.Tensors("act_ponder_cost")[-1]
    assert logged.step == 4
    assert float(tf.make_ndarray(logged.tensor_proto)) == pytest.approx(metrics["act_ponder_cost"])
