"""Decoding: beam search on a hand-made distribution, length penalty, EOS handling, and a
trained Transformer whose cached (fast) decoding equals the slow path."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from t2x import decoding, registry
from t2x.hparam import HParams
from t2x.model import model_for

EOS = 1
# A Markov chain over {PAD 0, EOS 1, 2, 3}: row 0 is the first step, row t the step after token t.
TABLE = np.log(np.array([[1e-9, 1e-9, 0.6, 0.4],   # start
                         [1e-9, 1.0, 1e-9, 1e-9],  # after EOS (never used)
                         [1e-9, 0.1, 0.45, 0.45],  # after 2
                         [1e-9, 0.9, 0.05, 0.05]], np.float32))


def markov_fn(ids, i, cache):
    previous = tf.where(i > 0, ids[:, tf.maximum(i - 1, 0)], tf.zeros_like(ids[:, 0]))
    return tf.gather(tf.constant(TABLE), previous), cache


def test_length_penalty_is_gnmt():
    assert float(decoding.length_penalty(1, 0.6)) == pytest.approx(1.0)
    assert float(decoding.length_penalty(7, 1.0)) == pytest.approx(2.0)
    assert float(decoding.length_penalty(10, 0.6)) == pytest.approx((15 / 6) ** 0.6)
    assert float(decoding.length_penalty(10, 0.0)) == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_finds_the_known_best_sequences(alpha):
    ids, scores = tf.function(lambda: decoding.beam_search(markov_fn, 1, 2, 6, 4, alpha=alpha))()
    ids, scores = ids.numpy(), scores.numpy()
    # [3, EOS]: 0.4 * 0.9 = 0.36; [2, 3, EOS]: 0.6 * 0.45 * 0.9 = 0.243; greedy never finds them.
    assert ids[0, 0].tolist() == [3, 1, 0, 0, 0, 0]
    assert ids[0, 1].tolist() == [2, 3, 1, 0, 0, 0]
    assert scores[0, 0] == pytest.approx(math.log(0.36) / ((5 + 2) / 6) ** alpha, rel=1e-5)
    assert scores[0, 1] == pytest.approx(math.log(0.243) / ((5 + 3) / 6) ** alpha, rel=1e-5)
    greedy, log_probs = decoding.sample_decode(markov_fn, 1, 6)
    assert greedy.numpy()[0].tolist() == [2, 2, 2, 2, 2, 2]  # the 0.45 tie goes to the first id
    assert float(log_probs[0]) == pytest.approx(math.log(0.6 * 0.45 ** 5), rel=1e-5)


def test_greedy_stops_at_eos_and_pads_after_it():
    calls = tf.Variable(0)
    eos_at = tf.constant([2, 4])

    def fn(ids, i, cache):
        calls.assign_add(1)
        token = tf.where(i >= eos_at, EOS, 3)
        return tf.one_hot(token, 5) * 10.0, cache

    ids, _ = tf.function(lambda: decoding.sample_decode(fn, 2, 10))()
    assert ids.numpy().tolist() == [[3, 3, 1, 0, 0, 0, 0, 0, 0, 0], [3, 3, 3, 3, 1, 0, 0, 0, 0, 0]]
    assert int(calls.numpy()) == 5  # stopped once both rows had EOS, not after 10 steps
    assert decoding.strip_ids(ids.numpy()[1]) == [3, 3, 3, 3]


def test_sampling_respects_top_k_and_temperature():
    logits = tf.math.log(tf.constant([[0.05, 0.05, 0.5, 0.4]]))

    def fn(ids, i, cache):
        return tf.tile(logits, [tf.shape(ids)[0], 1]), cache

    ids, _ = decoding.sample_decode(fn, 400, 1, sampling_method="random", top_k=2, seed=1)
    tokens = ids.numpy()[:, 0]
    assert set(tokens.tolist()) <= {2, 3} and 0.35 < (tokens == 2).mean() < 0.75
    ids, _ = decoding.sample_decode(fn, 400, 1, sampling_method="random", temperature=0.05, seed=1)
    assert (ids.numpy()[:, 0] == 2).mean() > 0.95


@pytest.fixture(scope="module")
def trained_transformer():
    """A tiny Transformer trained to copy sequences over {2..7} (vocab 8)."""
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    lengths = rng.randint(2, 9, size=256)
    inputs = np.zeros((256, 10), np.int64)
    for row, length in enumerate(lengths):
        inputs[row, :length] = rng.randint(2, 8, size=length)
        inputs[row, length] = EOS
    hp = registry.hparams("transformer_test")()
    hp.parse("hidden_size=32,filter_size=64,layer_prepostprocess_dropout=0.0,label_smoothing=0.0")
    problem_hparams = HParams(modality={"inputs": "symbol", "targets": "symbol"},
                              vocab_size={"inputs": 8, "targets": 8}, loss_multiplier=1.0, target_space_id=5)
    model = model_for("transformer", hp, problem_hparams)
    features = {"inputs": tf.constant(inputs), "targets": tf.constant(inputs)}
    model(features, training=True)
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            num, den = model.loss_fn(model(batch, training=True), batch)
            loss = num / den
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    for i in range(300):
        rows = slice((i % 4) * 64, (i % 4 + 1) * 64)
        step({k: v[rows] for k, v in features.items()})
    return model, inputs[:32]


def _infer(model, inputs, **kwargs):
    return tf.function(lambda x: model.infer({"inputs": x}, **kwargs))(tf.constant(inputs))


def test_trained_transformer_copies(trained_transformer):
    model, inputs = trained_transformer
    outputs = _infer(model, inputs)["outputs"].numpy()
    assert outputs.shape == (32, inputs.shape[1] + 50 + 1)  # room for each row's limit, then EOS
    exact = [decoding.strip_ids(o) == decoding.strip_ids(i) for o, i in zip(outputs, inputs)]
    assert np.mean(exact) > 0.8, np.mean(exact)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_fast_decoding_equals_slow_decoding(trained_transformer, beam_size):
    model, inputs = trained_transformer
    fast = _infer(model, inputs, beam_size=beam_size, use_cache=True)
    slow = _infer(model, inputs, beam_size=beam_size, use_cache=False)
    np.testing.assert_array_equal(fast["outputs"].numpy(), slow["outputs"].numpy())
    np.testing.assert_allclose(fast["scores"].numpy(), slow["scores"].numpy(), rtol=1e-4, atol=1e-4)


def test_beam_of_one_equals_greedy(trained_transformer):
    model, inputs = trained_transformer
    length = inputs.shape[1] + 50

    @tf.function
    def beam_of_one(x):  # infer() takes the greedy loop for beam_size=1: call beam search itself
        fn, cache = model.fast_decode_fn({"inputs": x}, tf.shape(x)[0], length, 1)
        return decoding.beam_search(fn, tf.shape(x)[0], 1, length, 8, alpha=0.0, cache=cache)

    greedy = _infer(model, inputs, decode_length=length)
    ids, scores = beam_of_one(tf.constant(inputs))
    np.testing.assert_array_equal(greedy["outputs"].numpy(), ids.numpy()[:, 0])
    np.testing.assert_allclose(greedy["scores"].numpy(), scores.numpy()[:, 0], rtol=1e-4, atol=1e-4)
    beam2 = _infer(model, inputs, beam_size=2, alpha=0.0, top_beams=2, decode_length=length)
    assert beam2["outputs"].shape == (32, 2, length)
    # The best of two beams is at least as likely as the greedy sequence.
    assert np.all(beam2["scores"].numpy()[:, 0] >= greedy["scores"].numpy() - 1e-4)


def test_each_row_stops_at_its_own_length_limit():
    def never_eos(ids, i, cache):
        return tf.one_hot(tf.fill([tf.shape(ids)[0]], 3), 5) * 10.0, cache

    fn = decoding.force_eos_after(never_eos, tf.constant([1, 3, 6]))
    ids, _ = decoding.sample_decode(fn, 3, 7)
    assert ids.numpy().tolist() == [[3, 1, 0, 0, 0, 0, 0], [3, 3, 3, 1, 0, 0, 0], [3, 3, 3, 3, 3, 3, 1]]
    per_beam = decoding.force_eos_after(never_eos, decoding.expand_to_beams(tf.constant([1, 3, 6]), 2))
    beams, _ = decoding.beam_search(per_beam, 3, 2, 7, 5, alpha=0.6, cache={})
    assert beams.numpy()[:, 0].tolist() == ids.numpy().tolist()


def test_a_prompt_is_forced_then_decoding_continues():
    def always_three(ids, i, cache):
        return tf.one_hot(tf.fill([tf.shape(ids)[0]], 3), 6) * 10.0, cache

    prompt = tf.constant([[4, 5, 2], [2, 0, 0]])
    lengths = tf.constant([3, 1])
    ids, _ = decoding.sample_decode(decoding.force_prefix(always_three, prompt, lengths), 2, 5)
    assert ids.numpy().tolist() == [[4, 5, 2, 3, 3], [2, 3, 3, 3, 3]]
    assert decoding.drop_prefix(ids, lengths).numpy().tolist() == [[3, 3, 0, 0, 0], [3, 3, 3, 3, 0]]


def test_a_language_model_continues_a_prompt():
    hp = registry.hparams("lstm_tiny")()
    lm = model_for("lstm_lm", hp, HParams(modality={"targets": "symbol"}, vocab_size={"targets": 7},
                                         loss_multiplier=1.0, target_space_id=0))
    prompt = tf.constant([[4, 5, 6], [3, 0, 0]], tf.int64)
    out = tf.function(lambda p: lm.infer({"prompt": p}, extra_length=4))(prompt)
    assert out["outputs"].shape == (2, 7)
    # Greedy continuation of row 0 = what the model predicts after the prompt, fed back.
    full = tf.function(lambda p: lm.infer({"prompt": p}, extra_length=1))(prompt[:1])["outputs"].numpy()
    assert full[0, 0] == out["outputs"].numpy()[0, 0]


def _renamed(cache, mapping):
    """``cache`` with its dict keys renamed by ``mapping`` (at any depth)."""
    if isinstance(cache, dict):
        return {mapping.get(k, k): _renamed(v, mapping) for k, v in cache.items()}
    if isinstance(cache, list):
        return [_renamed(v, mapping) for v in cache]
    return cache


@pytest.mark.parametrize("trained", [True, False])
def test_beam_invariant_cache_entries_are_not_reordered_and_change_nothing(trained_transformer, trained):
    """Beam search leaves an encoder's keys, values and bias (``BEAM_INVARIANT_KEYS``) where
    they are; renamed so that beam search reorders them like any other entry (what it did
    before), the beams and their scores are the same bit for bit."""
    if trained:
        model, inputs = trained_transformer
    else:  # flat distributions: many close beams
        keras.utils.set_random_seed(3)
        hp = registry.hparams("transformer_test")()
        hp.parse("hidden_size=32,filter_size=64")
        model = model_for("transformer", hp, HParams(modality={"inputs": "symbol", "targets": "symbol"},
                                                     vocab_size={"inputs": 8, "targets": 8},
                                                     loss_multiplier=1.0, target_space_id=5))
        inputs = np.random.RandomState(3).randint(2, 8, size=(16, 7))
        model({"inputs": tf.constant(inputs), "targets": tf.constant(inputs)}, training=False)
    hide = {key: "reordered_" + key for key in decoding.BEAM_INVARIANT_KEYS}
    unhide = {v: k for k, v in hide.items()}
    length, beams = 12, 3

    @tf.function
    def search(x, reorder_everything):
        batch = tf.shape(x)[0]
        fn, cache = model.fast_decode_fn({"inputs": x}, batch, length, beams)
        assert any(key in str(cache) for key in ("encdec_k", "encdec_bias"))
        if not trained:  # no EOS: every beam stays alive and is reordered at every step
            with_eos = fn

            def fn(ids, i, c):
                logits, c = with_eos(ids, i, c)
                return logits + tf.one_hot(EOS, 8, on_value=-decoding.INF), c
        if reorder_everything:
            inner = fn

            def fn(ids, i, c):
                logits, c = inner(ids, i, _renamed(c, unhide))
                return logits, _renamed(c, hide)
            cache = _renamed(cache, hide)
        return decoding.beam_search(fn, batch, beams, length, 8, alpha=0.6, cache=cache)

    x = tf.constant(inputs)
    ids, scores = search(x, False)
    old_ids, old_scores = search(x, True)
    np.testing.assert_array_equal(ids.numpy(), old_ids.numpy())
    np.testing.assert_array_equal(scores.numpy(), old_scores.numpy())
    if not trained:  # real beams: each example's are distinct sequences
        assert all(len({tuple(b) for b in example}) == beams for example in ids.numpy().tolist())


@pytest.mark.parametrize("n", [4 * 8192, 5000, 300])
def test_top_k_by_blocks_equals_top_k_ties_included(n):
    """The same values and indices as ``tf.math.top_k``: on random scores, on scores with
    many ties (small integers: equal values resolve by the lower index), with -INF rows
    (dead beams) and a row length that is not a multiple of the block."""
    rng = np.random.RandomState(n)
    cases = [rng.normal(size=(6, n)), rng.randint(0, 3, size=(6, n)) * 1.0,
             np.where(rng.rand(6, n) < 0.9, -decoding.INF, rng.normal(size=(6, n))),
             np.full((2, n), -decoding.INF)]
    peaks = rng.randint(0, 2, size=(6, n)) * 1.0  # ties at the boundary across blocks...
    peaks[:, -3:] = 5.0  # ...after a few larger scores in the last block
    cases.append(peaks)
    for scores in cases:
        scores = tf.constant(scores, tf.float32)
        for k in (1, 8):
            values, indices = decoding.top_k_by_blocks(scores, k)
            expected = tf.math.top_k(scores, k=k)
            np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
            np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())


def test_beam_search_with_max_lengths_stops_sooner_with_the_same_beams(trained_transformer):
    """``max_lengths`` (each example's forced EOS) tightens stop_early's bound: the same
    beams and scores, in fewer steps than the bound at ``decode_length``."""
    model, inputs = trained_transformer
    length, beams = 60, 3
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(inputs, 0), tf.int32), axis=1) + 4
    steps = tf.Variable(0)

    @tf.function
    def search(x, with_max_lengths):
        batch = tf.shape(x)[0]
        fn, cache = model.fast_decode_fn({"inputs": x}, batch, length, beams)
        forced = decoding.force_eos_after(fn, decoding.expand_to_beams(lengths, beams))

        def counted(ids, i, c):
            steps.assign_add(1)
            return forced(ids, i, c)
        return decoding.beam_search(counted, batch, beams, length, 8, alpha=0.6, cache=cache,
                                    max_lengths=lengths + 1 if with_max_lengths else None)

    x = tf.constant(inputs)
    ids, scores = search(x, False)
    loose = int(steps.numpy())
    steps.assign(0)
    tight_ids, tight_scores = search(x, True)
    np.testing.assert_array_equal(ids.numpy(), tight_ids.numpy())
    np.testing.assert_array_equal(scores.numpy(), tight_scores.numpy())
    assert int(steps.numpy()) < loose, (int(steps.numpy()), loose)
