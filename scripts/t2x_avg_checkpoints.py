"""t2x-avg-checkpoints: average the last N checkpoints of a run (T2T's avg_checkpoints).

    t2x-avg-checkpoints --output_dir=~/t2x_train/run --num_last_checkpoints=5
    t2x-decoder --output_dir=~/t2x_train/run/avg ...

Writes <output_dir>/avg (or --avg_dir) with the averaged weights and the run's configs.
"""

import sys

from absl import app, flags

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-avg-checkpoints"

flags.DEFINE_string("output_dir", None, "The t2x-trainer output directory whose checkpoints to average.")
flags.DEFINE_integer("num_last_checkpoints", 5, "How many of the latest checkpoints.")
flags.DEFINE_string("avg_dir", None, "Where the averaged checkpoint goes (default <output_dir>/avg).")
flags.DEFINE_string("data_dir", None, "Where the vocabulary is (default: the run's data_dir).")
common.define_registry_flags()


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.output_dir:
        common.fail(BINARY, "--output_dir is required: the directory t2x-trainer wrote")
    from t2x.runs.averaging import average_checkpoints

    prefix = average_checkpoints(FLAGS.output_dir, num_last=FLAGS.num_last_checkpoints,
                                 output_dir=FLAGS.avg_dir, data_dir=FLAGS.data_dir)
    print(f"{BINARY}: wrote {prefix}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
