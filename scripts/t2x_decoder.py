"""t2x-decoder: decode with a trained sequence model.

    t2x-decoder --output_dir=~/t2x_train/translate_ende_multi30k/transformer-transformer_small \\
        --decode_from_file=test.en --decode_to_file=test.de.hyp --decode_hparams="beam_size=4,alpha=0.6"

The problem, model, hparams and data_dir are read back from --output_dir (nothing to
repeat); the latest checkpoint is used unless --checkpoint_path. Without
--decode_from_file it decodes --decode_split (dev by default) and prints its sacreBLEU;
with --decode_interactive it reads sentences from stdin. Sentences are batched by length
and written back in file order; progress lines give sentences/s.
"""

import sys

from absl import app, flags, logging

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-decoder"

flags.DEFINE_string("output_dir", None, "The t2x-trainer output directory of the run to decode with.")
flags.DEFINE_string("data_dir", None, "Where the vocabulary is (default: the run's data_dir).")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint prefix (<dir>/ckpt-<step>); default: the latest.")
flags.DEFINE_string("decode_hparams", "", "e.g. 'beam_size=4,alpha=0.6,batch_size=32,return_beams=true'.")
flags.DEFINE_string("decode_from_file", None, "Source sentences, one per line.")
flags.DEFINE_string("decode_to_file", None, "Where the outputs go, one per line in input order "
                    "(default: <decode_from_file>.<model>.<hparams_set>.beam<N>.alpha<A>.decodes).")
flags.DEFINE_string("decode_split", "dev", "Without --decode_from_file: the split to decode and score.")
flags.DEFINE_boolean("decode_interactive", False, "Decode sentences typed on stdin.")
flags.DEFINE_enum("bleu_tokenize", "13a", ["13a", "intl", "none", "char", "zh"],
                  "sacreBLEU tokenizer for --decode_split scoring.")
common.define_registry_flags()


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.output_dir:
        common.fail(BINARY, "--output_dir is required: the directory t2x-trainer wrote")
    from t2x import bleu
    from t2x.training import decoder as decoder_lib

    decoder_lib.parse_decode_hparams(FLAGS.decode_hparams)  # a typo fails before the model loads
    if FLAGS.decode_from_file and not _readable(FLAGS.decode_from_file):
        common.fail(BINARY, f"--decode_from_file={FLAGS.decode_from_file} cannot be read")
    try:
        decoder = decoder_lib.SequenceDecoder.from_output_dir(
            FLAGS.output_dir, data_dir=FLAGS.data_dir, checkpoint_path=FLAGS.checkpoint_path,
            decode_hparams=FLAGS.decode_hparams)
    except (decoder_lib.DecodeError, ValueError) as e:
        common.fail(BINARY, str(e))
    hp = decoder.decode_hparams
    if FLAGS.decode_interactive:
        print("Type a sentence and press Enter (Ctrl-D to quit).", file=sys.stderr)
        for line in sys.stdin:
            if line.strip():
                print(decoder.decode_lines([line])[0], flush=True)
        return 0
    if FLAGS.decode_from_file:
        with open(FLAGS.decode_from_file, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f]
        outputs = decoder.decode_lines(lines)
        out_path = FLAGS.decode_to_file or (
            f"{FLAGS.decode_from_file}.{decoder.model.name}.beam{hp.beam_size}.alpha{hp.alpha}.decodes")
        decoder_lib.write_lines_atomic(out_path, outputs)
        print(f"{BINARY}: decoded {len(lines)} sentences from {FLAGS.decode_from_file} to {out_path} "
              f"({decoder.last_sentences_per_second:.1f} sentences/s, checkpoint {decoder.checkpoint_path})")
        return 0
    hypotheses, references = decoder.decode_split(FLAGS.decode_split)
    if FLAGS.decode_to_file:
        decoder_lib.write_lines_atomic(FLAGS.decode_to_file, hypotheses)
    score = bleu.corpus_bleu(hypotheses, references, tokenize=FLAGS.bleu_tokenize)
    logging.info("sacreBLEU signature: %s", score.signature)
    print(f"{BINARY}: {FLAGS.decode_split}: {len(hypotheses)} sentences, {score.format()} "
          f"({decoder.last_sentences_per_second:.1f} sentences/s, checkpoint {decoder.checkpoint_path})")
    return 0


def _readable(path: str) -> bool:
    try:
        with open(path, encoding="utf-8"):
            return True
    except OSError:
        return False


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
