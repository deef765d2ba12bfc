"""t2x-bleu: sacreBLEU of a translation file against a reference file (one sentence a line).

    t2x-bleu --translation=test.de.hyp --reference=test.de

Prints the publishable sacreBLEU (13a tokenizer, cased) with its signature, then the two
numbers T2T's ``t2t-bleu`` printed: ``BLEU_cased`` (intl tokenizer) and ``BLEU_uncased``.
The same scorer as the trainer's ``eval/bleu`` (``--eval_decode_split``).
"""

import sys

from absl import app, flags

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-bleu"

flags.DEFINE_string("translation", None, "The system's output, one sentence a line.")
flags.DEFINE_string("reference", None, "The reference, one sentence a line.")
flags.DEFINE_enum("tokenize", "13a", ["13a", "intl", "none", "char", "zh"], "sacreBLEU tokenizer of the headline.")


def _read(flag: str):
    """The lines of --translation or --reference; a missing, unreadable or non-UTF-8 file is
    one line (``file:line`` for bad bytes)."""
    from t2x.data.text_lines import read_lines

    path = FLAGS[flag].value
    if not path:
        common.fail(BINARY, f"--{flag} is required")
    fix = f"name a UTF-8 text file, one sentence a line, in --{flag}"
    try:
        return [line for _, line in read_lines(path, f"--{flag}", fix)]
    except FileNotFoundError:  # t2x's DataMissingError, in the words of the other cases
        common.fail(BINARY, f"--{flag}={path} cannot be read: no such file; {fix}")


def main(argv):
    if len(argv) > 1:
        common.fail(BINARY, f"unexpected arguments {argv[1:]}; all options are --flags")
    from t2x import bleu

    hypotheses, references = _read("translation"), _read("reference")
    headline = bleu.corpus_bleu(hypotheses, references, tokenize=FLAGS.tokenize)
    cased = bleu.corpus_bleu(hypotheses, references, tokenize="intl")
    uncased = bleu.corpus_bleu(hypotheses, references, tokenize="intl", lowercase=True)
    print(f"{headline.format()}")
    print(f"signature: {headline.signature}")
    print(f"BLEU_cased (t2t-bleu, intl) = {cased.score:.2f}")
    print(f"BLEU_uncased (t2t-bleu, intl, lowercased) = {uncased.score:.2f}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
