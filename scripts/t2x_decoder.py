"""t2x-decoder: decode with a trained sequence model.

    t2x-decoder --output_dir=~/t2x_train/translate_ende_multi30k/transformer-transformer_small \\
        --decode_from_file=test.en --decode_to_file=test.de.hyp --decode_hparams="beam_size=4,alpha=0.6"

The problem, model, hparams, gin config (a *_from_files problem's paths and vocabulary
type) and data_dir are read back from --output_dir (nothing to repeat); the latest
checkpoint is used unless --checkpoint_path. The library call is
``t2x.inference.decoder.decode``. Without
--decode_from_file it decodes --decode_split (dev by default) and prints its sacreBLEU;
with --decode_interactive it reads sentences from stdin. Sentences are batched by length
and written back in file order (a blank line stays a blank output line); progress lines
give sentences/s. An input longer than the run's limit (--decode_hparams=max_input_length,
default the model's max_length) is cut, with one warning line naming its line number.
Bad --decode_hparams, an unreadable or non-UTF-8 --decode_from_file and a --decode_to_file
that cannot be written are refused before the model loads. --attention_dir=DIR also writes the
attention weights of the first --attention_examples decoded examples and a page to see them
(open DIR/index.html; ``t2x.inference.attention``). An image generation run (imagetransformer
on image_mnist_gen...) writes PNG samples and grids to --image_dir instead
(``t2x.inference.images``; --decode_hparams=num_samples=16,seed=1).
"""

import sys

from absl import app, flags

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
flags.DEFINE_string("saved_model", None, "Decode through an export (t2x-exporter's <export>/saved_model) "
                    "instead of the checkpoint: the same lines on the same inputs. --output_dir is then "
                    "needed only for --decode_split.")
flags.DEFINE_enum("bleu_tokenize", "13a", ["13a", "intl", "none", "char", "zh"],
                  "sacreBLEU tokenizer for --decode_split scoring.")
flags.DEFINE_string("attention_dir", None, "Also write the attention weights (every layer and head, encoder, "
                    "decoder and encoder-decoder) of the first --attention_examples decoded examples to this "
                    "directory, with a page to see them: open DIR/index.html.")
flags.DEFINE_integer("attention_examples", 20, "How many decoded examples --attention_dir draws.")
flags.DEFINE_string("image_dir", None, "Image generation: the folder the PNG samples go to (a grid of "
                    "--decode_hparams=num_samples per class, or num_samples unconditional samples; seed=N makes "
                    "them reproducible). Default for an image generation run: --decode_to_file's folder, else "
                    "<output_dir>/samples.")
common.define_registry_flags()


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.output_dir and not FLAGS.saved_model:
        common.fail(BINARY, "--output_dir is required: the directory t2x-trainer wrote (or --saved_model)")
    from t2x.inference import decoder as decoder_lib

    if FLAGS.decode_interactive:
        print("Type a sentence and press Enter (Ctrl-D to quit).", file=sys.stderr)
    summary = decoder_lib.decode(
        FLAGS.output_dir, data_dir=FLAGS.data_dir, checkpoint_path=FLAGS.checkpoint_path,
        decode_hparams=FLAGS.decode_hparams, decode_from_file=FLAGS.decode_from_file,
        decode_to_file=FLAGS.decode_to_file, decode_split=FLAGS.decode_split,
        decode_interactive=FLAGS.decode_interactive, bleu_tokenize=FLAGS.bleu_tokenize,
        t2x_usr_dir=FLAGS.t2x_usr_dir, emit=lambda line: print(line, flush=True),
        saved_model=FLAGS.saved_model, announce=common.announcer(BINARY), attention_dir=FLAGS.attention_dir,
        attention_examples=FLAGS.attention_examples, image_dir=FLAGS.image_dir)
    if not FLAGS.decode_interactive:
        print(f"{BINARY}: {summary}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
