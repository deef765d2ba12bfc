"""Named evaluation metrics; ``Problem.eval_metrics()`` (plus ``T2XModel.eval_metrics()``)
chooses which ones evaluation reports.

Two kinds, by where they run:

* **Step metrics** (teacher-forced) run *inside the compiled eval step*. Each turns one
  batch's ``logits [B, ..., V]``, ``targets [B, ...]`` and target ``weights [B, ...]``
  (1 for real tokens, 0 for padding) into a few scalar **sums**; sums add up over batches
  and over replicas (``ReduceOp.SUM``) exactly, and the metric's value is computed from the
  totals on the host. The eval loss's own sums (``loss_num``, ``loss_den``) are always there.

  ==========================  ===================================================  =========
  name                        value (from the totals)                              sums
  ==========================  ===================================================  =========
  ``accuracy``                argmax == target, per weighted position              correct, weights
  ``accuracy_top5``           target among the 5 (or V) highest logits             correct_top5, weights
  ``accuracy_per_sequence``   every weighted position of a row right (rank-2       correct_sequences,
                              targets: one sequence per row)                       sequences
  ``neg_log_perplexity``      -(eval loss per weighted target)                     loss_num, loss_den
  ``perplexity``              exp(eval loss per weighted target)                   loss_num, loss_den
  ``bits_per_dim``            mean negative log-likelihood per weighted target     nll_nats,
                              (a sub-pixel of an image), in bits: nats / ln 2      nll_positions
  ==========================  ===================================================  =========

  Worked example: two batches with 3 of 4 and then 1 of 2 tokens right sum to
  ``correct = 4``, ``weights = 6``: ``accuracy = 0.667``, what one big batch gives (the
  mean of the two batch accuracies would be 0.625).

* **Decode metrics** run *on the host* on real decodes (from ``t2x.inference.decoder``'s
  ``SequenceDecoder``, the code ``t2x-decoder`` runs) against the references, both detokenized
  strings:

  ==================  ==========================================================================
  ``bleu``            sacreBLEU corpus BLEU, 0..100 (``t2x.bleu``; tokenizer ``bleu_tokenize``)
  ``rouge_1``         mean ROUGE-1 F-measure, 0..1 (Google's ``rouge-score``, no stemming)
  ``rouge_2``         mean ROUGE-2 F-measure
  ``rouge_L``         mean ROUGE-L F-measure (longest common subsequence, per sentence)
  ``edit_distance``   character edit distance / reference characters, summed over the corpus
  ``wer``             word (whitespace token) edit distance / reference words, corpus-wide
  ==================  ==========================================================================

  Edit distances are ``rapidfuzz``'s Levenshtein distance. ``rouge-score``'s tokenizer
  lowercases and keeps ``[a-z0-9]`` only, as the library defines ROUGE.

Your own: ``register_step_metric(name, sums_fn, result_fn)`` or
``register_decode_metric(name, fn)``, then name it in ``eval_metrics()``.
"""

import math
from typing import Callable, Dict, List, Mapping, Sequence

from t2x.errors import ConfigError, closest_names

SumsFn = Callable  # (logits, targets, weights) -> {sum name: scalar float32 tensor}, {} if n/a
ResultFn = Callable[[Mapping[str, float]], float]
DecodeFn = Callable[..., float]  # (hypotheses, references, **options) -> float

_STEP: Dict[str, tuple] = {}
_DECODE: Dict[str, DecodeFn] = {}


def register_step_metric(name: str, sums_fn: SumsFn, result_fn: ResultFn) -> None:
    """Adds a teacher-forced metric: ``sums_fn(logits, targets, weights)`` runs in the
    compiled eval step and returns scalar sums (``{}`` when it does not apply to these
    shapes); ``result_fn(totals)`` turns the summed totals into the value, on the host."""
    _check_new(name)
    _STEP[name] = (sums_fn, result_fn)


def register_decode_metric(name: str, fn: DecodeFn) -> None:
    """Adds a decode-based metric: ``fn(hypotheses, references, **options) -> float``."""
    _check_new(name)
    _DECODE[name] = fn


def _check_new(name: str) -> None:
    if name in _STEP or name in _DECODE:
        raise ConfigError(f"metric '{name}' is already registered")


_LOWER_IS_BETTER = {"loss", "perplexity", "edit_distance", "wer", "bits_per_dim"}


def goal(name: str) -> str:
    """``"min"`` for metrics where lower is better (the eval loss, perplexity, edit
    distance, WER), ``"max"`` for the others (accuracies, BLEU, ROUGE, neg-log-perplexity).
    ``name`` may carry TensorBoard's ``eval/`` prefix."""
    name = name.split("/", 1)[1] if name.startswith("eval/") else name
    if name != "loss":
        check_names([name], where="the metric to select by")
    return "min" if name in _LOWER_IS_BETTER else "max"


def names() -> List[str]:
    return sorted(_STEP) + sorted(_DECODE)


def check_names(metric_names: Sequence[str], where: str = "eval_metrics()") -> None:
    """Every name is a registered metric, or a ConfigError naming the closest ones."""
    for name in metric_names:
        if name not in _STEP and name not in _DECODE:
            close = closest_names(name, names())
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise ConfigError(f"unknown metric '{name}' in {where}; {hint}known metrics: "
                              f"{', '.join(names())}")


def split_names(metric_names: Sequence[str]):
    """``(step metric names, decode metric names)``, each in the given order, no repeats."""
    unique = list(dict.fromkeys(metric_names))
    check_names(unique)
    return [n for n in unique if n in _STEP], [n for n in unique if n in _DECODE]


# ----------------------------------------------------------------- step metrics --

def step_sums(metric_names: Sequence[str], logits, targets, weights) -> Dict:
    """Compiled eval step: the union of the sums the named step metrics need."""
    out = {}
    for name in metric_names:
        out.update(_STEP[name][0](logits, targets, weights))
    return out


def step_results(metric_names: Sequence[str], totals: Mapping[str, float]) -> Dict[str, float]:
    """Host: each named metric's value from the summed totals (metrics whose sums are
    absent, because they did not apply to the model's outputs, are left out)."""
    out = {}
    for name in metric_names:
        try:
            out[name] = float(_STEP[name][1](totals))
        except KeyError:
            continue
    return out


def _classifies(logits, targets) -> bool:
    return (logits.shape.rank == targets.shape.rank + 1 and logits.shape[-1] is not None
            and logits.shape[-1] > 1)


def _accuracy_sums(logits, targets, weights):
    import tensorflow as tf

    if not _classifies(logits, targets):
        return {}
    pred = tf.argmax(logits, -1)
    right = tf.cast(tf.equal(pred, tf.cast(targets, tf.int64)), tf.float32)
    return {"correct": tf.reduce_sum(right * weights), "weights": tf.reduce_sum(weights)}


def _top5_sums(logits, targets, weights):
    import tensorflow as tf

    if not _classifies(logits, targets):
        return {}
    k = min(5, int(logits.shape[-1]))
    top = tf.math.top_k(tf.cast(logits, tf.float32), k=k).indices
    hit = tf.reduce_any(tf.equal(tf.cast(top, tf.int64), tf.cast(targets, tf.int64)[..., None]), -1)
    return {"correct_top5": tf.reduce_sum(tf.cast(hit, tf.float32) * weights),
            "weights": tf.reduce_sum(weights)}


def _per_sequence_sums(logits, targets, weights):
    import tensorflow as tf

    if not _classifies(logits, targets) or targets.shape.rank != 2:
        return {}
    wrong = tf.cast(tf.not_equal(tf.argmax(logits, -1), tf.cast(targets, tf.int64)), tf.float32) * weights
    return {"correct_sequences": tf.reduce_sum(tf.cast(tf.equal(tf.reduce_sum(wrong, -1), 0.0), tf.float32)),
            "sequences": tf.cast(tf.shape(targets)[0], tf.float32)}


def _no_sums(logits, targets, weights):
    del logits, targets, weights
    return {}  # the eval step always sums loss_num and loss_den


def _nll_sums(logits, targets, weights):
    import tensorflow as tf

    if not _classifies(logits, targets):
        return {}
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32),
                                                         logits=tf.cast(logits, tf.float32))
    return {"nll_nats": tf.reduce_sum(nll * weights), "nll_positions": tf.reduce_sum(weights)}


def mean_loss(totals: Mapping[str, float]) -> float:
    return totals["loss_num"] / max(totals["loss_den"], 1.0)


register_step_metric("accuracy", _accuracy_sums, lambda t: t["correct"] / max(t["weights"], 1.0))
register_step_metric("accuracy_top5", _top5_sums, lambda t: t["correct_top5"] / max(t["weights"], 1.0))
register_step_metric("accuracy_per_sequence", _per_sequence_sums,
                     lambda t: t["correct_sequences"] / max(t["sequences"], 1.0))
register_step_metric("neg_log_perplexity", _no_sums, lambda t: -mean_loss(t))
register_step_metric("perplexity", _no_sums, lambda t: math.exp(min(mean_loss(t), 50.0)))
register_step_metric("bits_per_dim", _nll_sums,
                     lambda t: t["nll_nats"] / max(t["nll_positions"], 1.0) / math.log(2.0))


# --------------------------------------------------------------- decode metrics --

def decode_results(metric_names: Sequence[str], hypotheses: Sequence[str], references: Sequence[str],
                   **options) -> Dict[str, float]:
    """Host: the named decode metrics of ``hypotheses`` against ``references`` (one each).
    ``options`` go to every metric (``bleu_tokenize`` for bleu)."""
    if len(hypotheses) != len(references):
        raise ConfigError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return {name: float(_DECODE[name](list(hypotheses), list(references), **options))
            for name in metric_names}


def _bleu(hypotheses, references, bleu_tokenize: str = "13a", **_):
    from t2x import bleu

    return bleu.corpus_bleu(hypotheses, references, tokenize=bleu_tokenize).score


_ROUGE_TYPES = {"rouge_1": "rouge1", "rouge_2": "rouge2", "rouge_L": "rougeL"}


def _rouge(rouge_type: str) -> DecodeFn:
    def fn(hypotheses, references, **_):
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=False)
        if not references:
            return 0.0
        return sum(scorer.score(ref, hyp)[rouge_type].fmeasure
                   for hyp, ref in zip(hypotheses, references)) / len(references)
    return fn


def _edit_rate(split: Callable[[str], Sequence]) -> DecodeFn:
    def fn(hypotheses, references, **_):
        from rapidfuzz.distance import Levenshtein

        errors = sum(Levenshtein.distance(split(h), split(r)) for h, r in zip(hypotheses, references))
        return errors / max(sum(len(split(r)) for r in references), 1)
    return fn


register_decode_metric("bleu", _bleu)
for _name, _type in _ROUGE_TYPES.items():
    register_decode_metric(_name, _rouge(_type))
register_decode_metric("edit_distance", _edit_rate(lambda text: text))
register_decode_metric("wer", _edit_rate(str.split))
