"""t2x-datagen: generate a problem's TFRecord shards.

    t2x-datagen --problem=image_mnist --data_dir=~/t2x_data --tmp_dir=~/t2x_data/tmp

Re-running with complete shards does nothing; a killed run, re-run, writes only the
shards it had not finished. Downloads are checksummed and, offline, fail in seconds with
a message naming the files to put in --tmp_dir.

With ``--beam`` the shards are written by an Apache Beam pipeline, one element per shard
(``pip install -e ".[beam]"``): by default with 2 worker processes on this machine (Beam's
FnApiRunner, the DirectRunner's batch engine), on a cluster by Beam's own options; the
shards are byte-identical to the local writer's for the same seed (``t2x.data.beam``):

    t2x-datagen --problem=translate_from_files --data_dir=/mnt/shared/data --beam \
        --beam_pipeline_options="--runner=DataflowRunner --project=P --region=R \
            --temp_location=gs://B/tmp --setup_file=./setup.py"
"""

import os

from absl import app, flags

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-datagen"

common.define_data_flags()
common.define_gin_flags()
flags.DEFINE_integer("num_processes", 1, "Writer processes (forked); shards are split between them.")
flags.DEFINE_integer("task_id", -1, "With several machines: write only the shards whose index "
                     "% num_processes == task_id, in this process.")
flags.DEFINE_boolean("beam", False, "Write the shards with an Apache Beam pipeline, one element per "
                     "shard (needs pip install -e \".[beam]\").")
flags.DEFINE_string("beam_pipeline_options", "", "With --beam: Beam's own flags in one string, e.g. "
                    "\"--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp "
                    "--setup_file=./setup.py\" (default: --runner=FnApiRunner --direct_num_workers=2 "
                    "--direct_running_mode=multi_processing).")


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.problem:
        common.fail(BINARY, "--problem is required (e.g. --problem=image_mnist); "
                    "--registry_help lists them")
    from t2x.data import datagen

    if FLAGS.beam_pipeline_options and not FLAGS.beam:
        common.fail(BINARY, "--beam_pipeline_options is given without --beam; add --beam")
    if FLAGS.tfds_data_dir and os.path.isfile(os.path.expanduser(FLAGS.tfds_data_dir)):
        common.fail(BINARY, f"--tfds_data_dir={FLAGS.tfds_data_dir} is a file, not a directory: name the "
                    "directory TFDS prepares datasets in (default ~/tensorflow_datasets)")
    if FLAGS.beam:  # bad Beam options fail before anything is read or written
        from t2x.data import beam

        beam.pipeline_options(FLAGS.beam_pipeline_options)
    common.parse_gin(BINARY)
    for line in datagen.generate(FLAGS.problem, data_dir=FLAGS.data_dir, tmp_dir=FLAGS.tmp_dir,
                                 task_id=FLAGS.task_id, num_processes=FLAGS.num_processes,
                                 random_seed=FLAGS.random_seed, announce=common.announcer(BINARY),
                                 beam_pipeline_options=FLAGS.beam_pipeline_options if FLAGS.beam else None,
                                 usr_dir=FLAGS.t2x_usr_dir):
        print(line)
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    run_main()
