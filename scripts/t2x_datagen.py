"""t2x-datagen: generate a problem's TFRecord shards.

    t2x-datagen --problem=image_mnist --data_dir=~/t2x_data --tmp_dir=~/t2x_data/tmp

Re-running with complete shards does nothing; a killed run, re-run, writes only the
shards it had not finished. Downloads are checksummed and, offline, fail in seconds with
a message naming the files to put in --tmp_dir.
"""

from absl import app, flags, logging

from t2x import registry
from t2x.data.download import default_tmp_dir
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
    if FLAGS.num_processes < 1:
        common.fail(BINARY, f"--num_processes must be >= 1, got {FLAGS.num_processes}")
    common.parse_gin(BINARY)
    problem = registry.problem(FLAGS.problem)
    data_dir = common.resolve_dir("data_dir", FLAGS.data_dir, common.DEFAULT_DATA_DIR, BINARY)
    tmp_dir = common.resolve_dir("tmp_dir", FLAGS.tmp_dir, default_tmp_dir(data_dir), BINARY)
    logging.info("Generating %s in %s (raw files in %s, seed %d, %d process(es))",
                 problem.name, data_dir, tmp_dir, FLAGS.random_seed, FLAGS.num_processes)
    reports = problem.generate_data(data_dir, tmp_dir, FLAGS.task_id,
                                    num_processes=FLAGS.num_processes,
                                    random_seed=FLAGS.random_seed)
    for split, r in reports.items():
        state = ("already complete" if r.shards_written == 0 else
                 f"wrote {r.shards_written} shard(s), {r.examples_written} examples "
                 f"in {r.seconds:.1f} s ({r.examples_per_second:.0f} examples/s)")
        print(f"{problem.name} {split}: {r.num_shards} shard(s) in {data_dir}: {state}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    run_main()
