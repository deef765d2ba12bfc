"""t2x-trainer: generate data, train and evaluate, in one command (T2T's flags).

    t2x-trainer --generate_data --problem=image_mnist --model=shake_shake \\
        --hparams_set=shake_shake_quick --train_steps=1000 --eval_steps=100

Re-running the same command resumes from the latest checkpoint in --output_dir; a
finished run only evaluates; a changed configuration is refused unless
--allow_config_change.
"""

import os
import sys

from absl import app, flags, logging

from t2x import registry
from t2x.data.download import default_tmp_dir
from t2x.scripts import common

FLAGS = flags.FLAGS
BINARY = "t2x-trainer"
DEFAULT_OUTPUT_DIR = "~/t2x_train"

common.define_data_flags()
flags.DEFINE_string("model", None, "Registered model name (e.g. shake_shake).")
flags.DEFINE_string("hparams_set", None, "Registered hparams set (e.g. shake_shake_quick).")
flags.DEFINE_string("hparams", "", "Overrides, e.g. 'learning_rate=0.1,batch_size=64'.")
flags.DEFINE_string("output_dir", None, "Checkpoints, summaries and configs "
                    f"(default {DEFAULT_OUTPUT_DIR}/<problem>/<model>-<hparams_set>).")
flags.DEFINE_boolean("generate_data", False, "Generate the problem's data first (skipped when complete).")
flags.DEFINE_integer("train_steps", 1000, "Total global steps to train to.")
flags.DEFINE_integer("eval_steps", 100, "Dev batches per evaluation (0: the whole dev set).")
flags.DEFINE_integer("eval_every", 1000, "Evaluate every N steps in train_and_evaluate.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint every N steps (and at the end).")
flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints to keep.")
flags.DEFINE_integer("log_every", 100, "Progress line and train summaries every N steps.")
flags.DEFINE_enum("schedule", "train_and_evaluate",
                  ["train", "evaluate", "train_and_evaluate", "continuous_eval"], "What to run.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy.")
flags.DEFINE_boolean("allow_config_change", False, "Resume even if hparams or names changed.")
common.define_gin_flags()
flags.DEFINE_integer("num_processes", 1, "Data generation processes (with --generate_data).")
flags.DEFINE_string("eval_decode_split", None, "After each evaluation, decode this split (dev, "
                    "test) as t2x-decoder does and report sacreBLEU as eval/bleu.")
flags.DEFINE_integer("eval_decode_examples", 0, "Decode only the first N examples (0: all).")
flags.DEFINE_string("decode_hparams", "", "Decoding for --eval_decode_split, e.g. 'beam_size=4,alpha=0.6'.")
flags.DEFINE_enum("bleu_tokenize", "13a", ["13a", "intl", "none", "char", "zh"],
                  "sacreBLEU tokenizer of eval/bleu (intl = T2T's t2t-bleu).")


TRAINER_FLAGS = ("train_steps", "eval_steps", "eval_every", "save_checkpoints_steps",
                 "keep_checkpoint_max", "strategy", "random_seed", "log_every",
                 "allow_config_change", "eval_decode_split", "eval_decode_examples",
                 "decode_hparams", "bleu_tokenize")


def main(argv):
    if common.start(BINARY, argv):
        return 0
    for name in ("problem", "model", "hparams_set"):
        if not FLAGS[name].value:
            common.fail(BINARY, f"--{name} is required; --registry_help lists the names")
    from t2x.hparam import create_hparams
    from t2x.training.trainer import Trainer, TrainingError  # registers gin configurables

    common.parse_gin(BINARY)
    problem = registry.problem(FLAGS.problem)
    registry.model(FLAGS.model)  # fail early on a misspelt model
    hparams = create_hparams(FLAGS.hparams_set, FLAGS.hparams)
    data_dir = common.resolve_dir("data_dir", FLAGS.data_dir, common.DEFAULT_DATA_DIR, BINARY)
    output_dir = common.resolve_dir(
        "output_dir", FLAGS.output_dir,
        os.path.join(DEFAULT_OUTPUT_DIR, FLAGS.problem, f"{FLAGS.model}-{FLAGS.hparams_set}"), BINARY)
    if FLAGS.generate_data:
        tmp_dir = common.resolve_dir("tmp_dir", FLAGS.tmp_dir, default_tmp_dir(data_dir), BINARY)
        problem.generate_data(data_dir, tmp_dir, num_processes=FLAGS.num_processes,
                              random_seed=FLAGS.random_seed)
    # Flags given on the command line win; the others leave their value to gin (then to
    # the Trainer's defaults, which equal the flags' defaults).
    options = {name: FLAGS[name].value for name in TRAINER_FLAGS if FLAGS[name].present}
    try:
        trainer = Trainer(problem=problem, model_name=FLAGS.model, hparams=hparams,
                          hparams_set=FLAGS.hparams_set, data_dir=data_dir, output_dir=output_dir,
                          flags_text=FLAGS.flags_into_string(), **options)
        metrics = trainer.run(FLAGS.schedule)
    except (TrainingError, ValueError) as e:
        common.fail(BINARY, str(e))
    if metrics:
        print(f"{BINARY}: {FLAGS.schedule} done at step {int(trainer.step.numpy())}: " +
              ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
    logging.info("TensorBoard: tensorboard --logdir %s --host 127.0.0.1", output_dir)
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
