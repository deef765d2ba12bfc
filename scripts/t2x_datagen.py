"""t2x-datagen: generate a problem's TFRecord shards.

    t2x-datagen --problem=image_mnist --data_dir=~/t2x_data --tmp_dir=~/t2x_data/tmp

Re-running with complete shards does nothing; a killed run, re-run, writes only the
shards it had not finished. Downloads are checksummed and, offline, fail in seconds with
a message naming the files to put in --tmp_dir.
"""

from absl import app, flags

from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-datagen"

common.define_data_flags()
common.define_gin_flags()
flags.DEFINE_integer("num_processes", 1, "Writer processes (forked); shards are split between them.")
flags.DEFINE_integer("task_id", -1, "With several machines: write only the shards whose index "
                     "% num_processes == task_id, in this process.")


def main(argv):
    if common.start(BINARY, argv):
        return 0
    if not FLAGS.problem:
        common.fail(BINARY, "--problem is required (e.g. --problem=image_mnist); "
                    "--registry_help lists them")
    from t2x.data import datagen

    common.parse_gin(BINARY)
    for line in datagen.generate(FLAGS.problem, data_dir=FLAGS.data_dir, tmp_dir=FLAGS.tmp_dir,
                                 task_id=FLAGS.task_id, num_processes=FLAGS.num_processes,
                                 random_seed=FLAGS.random_seed, announce=common.announcer(BINARY)):
        print(line)
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    run_main()
