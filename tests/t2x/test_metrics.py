"""t2x.metrics: step metrics as sums that add up, decode metrics from the libraries."""

import math

import numpy as np
import pytest
import tensorflow as tf
from rouge_score import rouge_scorer

from t2x import metrics
from t2x.errors import ConfigError


def _sums_of(names, logits, targets, weights):
    out = metrics.step_sums(names, tf.constant(logits, tf.float32), tf.constant(targets),
                            tf.constant(weights, tf.float32))
    return {k: float(v.numpy()) for k, v in out.items()}


def _one_hot_logits(predictions, vocab=4):
    return np.eye(vocab, dtype=np.float32)[np.asarray(predictions)] * 5.0


def test_accuracy_sums_add_up_to_the_one_big_batch_value():
    # Batch 1: 3 of 4 tokens right; batch 2: 1 of 2 right (2 padding positions).
    b1 = _sums_of(["accuracy"], _one_hot_logits([[1, 2], [3, 0]]), [[1, 2], [3, 1]], [[1, 1], [1, 1]])
    b2 = _sums_of(["accuracy"], _one_hot_logits([[2, 2], [1, 1]]), [[2, 0], [3, 0]], [[1, 0], [1, 0]])
    totals = {k: b1[k] + b2[k] for k in b1}
    assert totals == {"correct": 4.0, "weights": 6.0}
    assert metrics.step_results(["accuracy"], totals)["accuracy"] == pytest.approx(4 / 6)


def test_top5_and_per_sequence_accuracy():
    logits = np.array([[[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]],
                       [[0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]]], np.float32)
    targets = [[6, 0], [1, 6]]  # row 0 argmax right twice; row 1: 1 is not in the top 5
    sums = _sums_of(["accuracy_top5", "accuracy_per_sequence"], logits, targets, [[1, 1], [1, 1]])
    values = metrics.step_results(["accuracy_top5", "accuracy_per_sequence"], dict(sums, weights=4.0))
    assert values == {"accuracy_top5": pytest.approx(3 / 4), "accuracy_per_sequence": pytest.approx(1 / 2)}


def test_loss_metrics_come_from_the_loss_sums():
    totals = {"loss_num": 6.0, "loss_den": 3.0}
    values = metrics.step_results(["neg_log_perplexity", "perplexity"], totals)
    assert values == {"neg_log_perplexity": -2.0, "perplexity": pytest.approx(math.exp(2.0))}


def test_a_metric_that_does_not_apply_is_left_out():
    # Real-valued targets: no classes, so no accuracy sums and no accuracy value.
    assert _sums_of(["accuracy"], [[0.5]], [[0.5]], [[1.0]]) == {}
    assert metrics.step_results(["accuracy", "neg_log_perplexity"], {"loss_num": 1.0, "loss_den": 1.0}) == {
        "neg_log_perplexity": -1.0}


def test_rouge_equals_rouge_scores_own_numbers():
    hyps = ["the cat sat on the mat", "a dog barked at night", "hello world"]
    refs = ["the cat is on the mat", "the dog barked all night", "goodbye world"]
    values = metrics.decode_results(["rouge_1", "rouge_2", "rouge_L"], hyps, refs)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    scores = [scorer.score(r, h) for h, r in zip(hyps, refs)]
    for name, key in (("rouge_1", "rouge1"), ("rouge_2", "rouge2"), ("rouge_L", "rougeL")):
        assert values[name] == pytest.approx(np.mean([s[key].fmeasure for s in scores]))
    assert 0.2 < values["rouge_2"] < values["rouge_L"] <= values["rouge_1"] < 1.0


def test_edit_distance_and_wer_are_corpus_rates():
    values = metrics.decode_results(["edit_distance", "wer"], ["sitting", "a b c d"], ["kitten", "a x c"])
    # kitten -> sitting: 3 edits over 6 + 5 reference characters ("a x c" -> "a b c d": 3)
    assert values["edit_distance"] == pytest.approx((3 + 3) / (6 + 5))
    # words: sitting/kitten 1 substitution; "a b c d" vs "a x c": 1 substitution + 1 insertion
    assert values["wer"] == pytest.approx((1 + 2) / (1 + 3))


def test_bleu_is_sacrebleu():
    value = metrics.decode_results(["bleu"], ["the cat sat on the mat"], ["the cat sat on the mat"])["bleu"]
    assert value == pytest.approx(100.0)


def test_unknown_metric_names_the_closest():
    with pytest.raises(ConfigError, match="unknown metric 'rouge_l'.*did you mean rouge_L"):
        metrics.split_names(["accuracy", "rouge_l"])


def test_split_names_keeps_order_and_drops_repeats():
    assert metrics.split_names(["bleu", "accuracy", "rouge_2", "accuracy"]) == (["accuracy"], ["bleu", "rouge_2"])


def test_registering_a_metric_of_ones_own():
    metrics.register_step_metric("count_positions", lambda logits, targets, w: {"positions": tf.reduce_sum(w)},
                                 lambda t: t["positions"])
    try:
        sums = _sums_of(["count_positions"], _one_hot_logits([[1, 2]]), [[1, 2]], [[1, 1]])
        assert metrics.step_results(["count_positions"], sums) == {"count_positions": 2.0}
        with pytest.raises(ConfigError, match="already registered"):
            metrics.register_step_metric("count_positions", None, None)
    finally:
        metrics._STEP.pop("count_positions")
