"""t2x-exporter: a trained run out of t2x, as SavedModel, TF Lite or TF.js.

    t2x-exporter --output_dir=~/t2x_train/image_mnist/basic_fc_relu-basic_fc_small \\
        --formats=saved_model,tflite,tflite_dynamic,tflite_int8,tfjs

The problem, model, hparams, gin config and data_dir are read back from --output_dir; the
latest checkpoint is exported unless --checkpoint_path. Everything lands in
--export_dir (default <output_dir>/export/<step>/), renamed into place only when whole.
The library call is ``t2x.export.exporter.export``; the layout and signatures are in its
docstring and in each export's README.md and export.json.
"""

import sys

from absl import app, flags

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-exporter"

flags.DEFINE_string("output_dir", None, "The t2x-trainer output directory of the run to export.")
flags.DEFINE_string("data_dir", None, "Where the vocabulary is (default: the run's data_dir).")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint prefix (<dir>/ckpt-<step>); default: the latest.")
flags.DEFINE_string("export_dir", None, "Where the export goes (default: <output_dir>/export/<step>).")
flags.DEFINE_list("formats", ["saved_model"], "Any of saved_model, tflite (float32), tflite_dynamic "
                  "(dynamic-range int8 weights), tflite_int8 (full integer, calibrated on the "
                  "training split), tfjs (TF.js graph model + a page that runs it).")
flags.DEFINE_string("decode_hparams", "", "Sequence models: the decoding inside the graph, "
                    "e.g. 'beam_size=4,alpha=0.6' (default greedy).")
flags.DEFINE_integer("representative_examples", 200, "Training images that calibrate tflite_int8.")
flags.DEFINE_boolean("overwrite", False, "Replace an earlier export in --export_dir (a directory holding "
                     "export.json); anything else is never replaced.")
common.define_registry_flags()


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.output_dir:
        common.fail(BINARY, "--output_dir is required: the directory t2x-trainer wrote")
    from t2x.export import exporter as export_lib

    result = export_lib.export(
        FLAGS.output_dir, formats=FLAGS.formats, checkpoint_path=FLAGS.checkpoint_path,
        export_dir=FLAGS.export_dir, decode_hparams=FLAGS.decode_hparams, data_dir=FLAGS.data_dir,
        t2x_usr_dir=FLAGS.t2x_usr_dir, overwrite=FLAGS.overwrite,
        representative_examples=FLAGS.representative_examples)
    print(f"{BINARY}: {result.summary()}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
