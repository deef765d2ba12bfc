"""t2x-tuner: hyperparameter search over a registered range, each trial an ordinary run.

    t2x-tuner --problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small \
        --hparams_range=basic_fc_range --trials=8 --parallel=2 --objective=eval/accuracy \
        --train_steps=1000 --eval_every=200 --output_dir=~/t2x_tune/mnist_fc

Optuna's TPE sampler and median pruner (fed by every evaluation) search the range; the
study lives in ``--storage`` (default ``<output_dir>/study.db``; a shared RDB URL lets
tuners on several machines work on one study). Trials train in
``<output_dir>/trials/<n>``; ``tensorboard --logdir <output_dir>`` shows them as rows of
the HParams dashboard. Re-running a killed tuner continues its study. The best trial is
printed and written to ``<output_dir>/best.json``. The library call is
``t2x.tuning.tuner.tune``.
"""

import os
import sys

from absl import app, flags

from t2x.scripts import common
from t2x.training.options import EVAL, LOOP, TUNER_EVAL_EVERY

FLAGS = flags.FLAGS
BINARY = "t2x-tuner"

common.define_data_flags()
common.define_gin_flags()
flags.DEFINE_string("model", None, "Registered model name.")
flags.DEFINE_string("hparams_set", None, "Registered hparams set every trial starts from.")
flags.DEFINE_string("hparams_range", None, "Registered range (@register_ranged_hparams) to search.")
flags.DEFINE_string("hparams", "", "Fixed overrides for every trial, e.g. 'batch_size=64'.")
flags.DEFINE_string("output_dir", None, "The study's directory: trials/<n>, study.db, best.json.")
flags.DEFINE_integer("trials", 8, "Trials the study ends with (complete or pruned).")
flags.DEFINE_integer("parallel", 1, "Trials run at once on this machine (worker processes).")
flags.DEFINE_string("objective", "eval/accuracy", "The eval metric to optimize (eval/<metric>).")
flags.DEFINE_enum("objective_goal", None, ["max", "min"], "Default: min for loss, perplexity, "
                  "edit_distance and wer, max for the others.")
flags.DEFINE_string("storage", None, "Optuna storage URL (default sqlite:///<output_dir>/study.db); "
                    "e.g. postgresql://... shared by tuners on several machines.")
flags.DEFINE_string("study_name", "t2x", "The study's name in --storage.")
flags.DEFINE_integer("train_steps", LOOP.train_steps, "Steps per trial.")
flags.DEFINE_integer("eval_every", TUNER_EVAL_EVERY, "Evaluate (and report to the pruner) every N steps.")
flags.DEFINE_integer("eval_steps", EVAL.eval_steps, "Dev batches per evaluation (0: the whole dev set).")
flags.DEFINE_enum("pruner", "median", ["median", "none"], "Stop trials below the median early.")


def main(argv):
    if common.start(BINARY, argv):
        return 0
    for name in ("problem", "model", "hparams_set", "hparams_range", "output_dir"):
        if not FLAGS[name].value:
            common.fail(BINARY, f"--{name} is required; --registry_help lists the registered names")
    from t2x.training import run  # noqa: F401  registers the Trainer's gin configurables
    from t2x.tuning import tuner

    common.parse_gin(BINARY)

    expand = lambda path: path and os.path.abspath(os.path.expanduser(path))  # noqa: E731
    config = tuner.TunerConfig(
        problem=FLAGS.problem, model=FLAGS.model, hparams_set=FLAGS.hparams_set,
        hparams_range=FLAGS.hparams_range, hparams=FLAGS.hparams, output_dir=expand(FLAGS.output_dir),
        trials=FLAGS.trials, parallel=FLAGS.parallel, objective=FLAGS.objective,
        objective_goal=FLAGS.objective_goal, data_dir=expand(FLAGS.data_dir), tmp_dir=expand(FLAGS.tmp_dir),
        storage=FLAGS.storage, study_name=FLAGS.study_name, train_steps=FLAGS.train_steps,
        eval_every=FLAGS.eval_every, eval_steps=FLAGS.eval_steps, random_seed=FLAGS.random_seed,
        pruner=FLAGS.pruner, t2x_usr_dir=expand(FLAGS.t2x_usr_dir), gin_files=FLAGS.gin_file,
        gin_params=FLAGS.gin_param)
    summary = tuner.tune(config)
    print(f"{BINARY}: {tuner.best_value_line(summary)}; {os.path.join(config.output_dir, tuner.BEST_FILE)}")
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
