"""BLEU from sacreBLEU, the one scorer of t2x (``t2x-bleu``, the trainer's decode BLEU).

T2T's in-training ``approx_bleu`` scored teacher-forced argmax ids and was often taken for
BLEU; t2x has no such metric. Its BLEU is always sacreBLEU's corpus BLEU on detokenized
text from real decoding:

* ``tokenize="13a"`` (sacreBLEU's default, WMT's ``mteval-v13a``): the number to publish;
* ``tokenize="intl"`` (``mteval-v14 --international-tokenization``) is what T2T's
  ``t2t-bleu`` computed: its ``BLEU_cased`` is ``intl``, its ``BLEU_uncased`` is ``intl``
  with ``lowercase=True``.
"""

from typing import Sequence

from t2x.errors import ConfigError, DataError

TOKENIZERS = ("13a", "intl", "none", "char", "zh")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "13a",
                lowercase: bool = False):
    """sacreBLEU's ``BLEUScore`` (``.score`` in 0..100, ``.format()``) of one reference per
    hypothesis; a count mismatch is an error, not a silent truncation."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise DataError(f"{len(hypotheses)} hypotheses but {len(references)} references: "
                         "the translation and reference files must have one line per sentence")
    if not hypotheses:
        raise DataError("no sentences to score: the translation and reference files are empty")
    if tokenize not in TOKENIZERS:
        raise ConfigError(f"tokenize={tokenize!r}; use one of {', '.join(TOKENIZERS)}")
    metric = BLEU(tokenize=tokenize, lowercase=lowercase)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    score.signature = metric.get_signature().format()
    return score
