"""t2x-trainer: generate data, train and evaluate, in one command (T2T's flags).

    t2x-trainer --problem=image_mnist --model=shake_shake

trains the model's default hparams set (shake_shake_quick), generating the shards first
when they are missing. Re-running the same command resumes from the latest checkpoint in
--output_dir; a finished run only evaluates; a changed configuration is refused unless
--allow_config_change. The library call is ``t2x.training.run.run_training``.
"""

import os
import sys

from absl import app, flags, logging

from t2x.scripts import common
from t2x.training.options import BLEU_TOKENIZERS, EVAL, LOOP, SELECTION

FLAGS = flags.FLAGS
BINARY = "t2x-trainer"

common.define_data_flags()
flags.DEFINE_string("model", None, "Registered model name (e.g. shake_shake).")
flags.DEFINE_string("hparams_set", None, "Registered hparams set (e.g. shake_shake_quick); "
                    "default: the model's default set (--registry_help shows it).")
flags.DEFINE_string("hparams", "", "Overrides, e.g. 'learning_rate=0.1,batch_size=64'.")
flags.DEFINE_string("output_dir", None, "Checkpoints, summaries and configs "
                    "(default ~/t2x_train/<problem>/<model>-<hparams_set>).")
flags.DEFINE_boolean("generate_data", False, "Generate the problem's data first (skipped when "
                     "complete). Shards the schedule reads are generated when missing anyway.")
flags.DEFINE_integer("train_steps", LOOP.train_steps, "Total global steps to train to.")
flags.DEFINE_integer("eval_steps", EVAL.eval_steps, "Dev batches per evaluation (0: the whole dev set).")
flags.DEFINE_integer("eval_every", LOOP.eval_every, "Evaluate every N steps in train_and_evaluate.")
flags.DEFINE_integer("save_checkpoints_steps", LOOP.save_checkpoints_steps, "Checkpoint every N steps (and at the end).")
flags.DEFINE_integer("keep_checkpoint_max", LOOP.keep_checkpoint_max, "Checkpoints to keep.")
flags.DEFINE_integer("log_every", LOOP.log_every, "Progress line and train summaries every N steps.")
flags.DEFINE_enum("schedule", "train_and_evaluate",
                  ["train", "evaluate", "train_and_evaluate", "continuous_eval"], "What to run.")
flags.DEFINE_enum("strategy", LOOP.strategy, ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy.")
flags.DEFINE_boolean("allow_config_change", LOOP.allow_config_change, "Resume even if hparams or names changed.")
common.define_gin_flags()
flags.DEFINE_integer("num_processes", 1, "Data generation processes (with --generate_data).")
flags.DEFINE_string("eval_decode_split", None, "The split decode-based metrics (those the problem's "
                    "eval_metrics() names: bleu, rouge_*, edit_distance, wer) decode, as t2x-decoder "
                    "does (default dev); given for a problem that names none, eval/bleu is reported.")
flags.DEFINE_integer("eval_decode_examples", EVAL.eval_decode_examples, "Decode only the first N examples (0: all).")
flags.DEFINE_string("decode_hparams", EVAL.decode_hparams, "Decoding for --eval_decode_split, e.g. 'beam_size=4,alpha=0.6'.")
flags.DEFINE_enum("bleu_tokenize", EVAL.bleu_tokenize, list(BLEU_TOKENIZERS),
                  "sacreBLEU tokenizer of eval/bleu (intl = T2T's t2t-bleu).")


flags.DEFINE_string("warm_start_from", None, "A run directory or checkpoint prefix whose weights "
                    "initialise this run's by name and shape (those that match; the others are listed). "
                    "Only when the run starts at step 0.")

flags.DEFINE_boolean("xla", LOOP.xla, "Compile the train and eval steps with XLA (jit_compile). Pays on "
                     "GPUs and TPUs (fused kernels); off by default because on CPUs it measured "
                     "slower (0.8x on a 2-core box). Mixed precision is an hparam: "
                     "--hparams=activation_dtype=bfloat16 (or float16).")

flags.DEFINE_string("early_stopping_metric", None, "Select by this eval metric (eval/accuracy, eval/loss, "
                    "eval/bleu...): tracked in output_dir/best.json after every evaluation.")
flags.DEFINE_integer("early_stopping_patience", SELECTION.early_stopping_patience, "Stop training after N evaluations in a row without "
                     "improvement of --early_stopping_metric (0: never).")
flags.DEFINE_boolean("keep_best_checkpoint", SELECTION.keep_best_checkpoint, "Keep the best checkpoint by --early_stopping_metric "
                     "in output_dir/best/ (a run directory: t2x-decoder and t2x-exporter read it).")

TRAINER_FLAGS = ("early_stopping_metric", "early_stopping_patience", "keep_best_checkpoint", "xla",
                 "warm_start_from", "train_steps", "eval_steps", "eval_every", "save_checkpoints_steps",
                 "keep_checkpoint_max", "strategy", "random_seed", "log_every",
                 "allow_config_change", "eval_decode_split", "eval_decode_examples",
                 "decode_hparams", "bleu_tokenize")


def main(argv):
    if FLAGS.output_dir:  # a run another trainer holds is refused before TensorFlow is imported
        from t2x.runs.run_dir import RunDir

        RunDir(FLAGS.output_dir).check_lock_free()
    if common.start(BINARY, argv):
        return 0
    for name in ("problem", "model"):
        if not FLAGS[name].value:
            common.fail(BINARY, f"--{name} is required; --registry_help lists the names")
    from t2x.training import run as trainer_lib  # registers the gin configurables

    common.parse_gin(BINARY)
    # Flags given on the command line win; the others leave their value to gin (then to
    # the Trainer's defaults, which equal the flags' defaults).
    options = {name: FLAGS[name].value for name in TRAINER_FLAGS if FLAGS[name].present}
    trainer, metrics = trainer_lib.run_training(
        problem=FLAGS.problem, model=FLAGS.model, hparams_set=FLAGS.hparams_set,
        hparams=FLAGS.hparams, data_dir=FLAGS.data_dir, output_dir=FLAGS.output_dir,
        tmp_dir=FLAGS.tmp_dir, generate_data=FLAGS.generate_data, schedule=FLAGS.schedule,
        num_processes=FLAGS.num_processes, flags_text=FLAGS.flags_into_string(),
        t2x_usr_dir=FLAGS.t2x_usr_dir and os.path.abspath(os.path.expanduser(FLAGS.t2x_usr_dir)),
        announce=common.announcer(BINARY), **options)
    if metrics:
        print(f"{BINARY}: {FLAGS.schedule} done at step {int(trainer.step.numpy())}: " +
              ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
    logging.info("TensorBoard: tensorboard --logdir %s --host 127.0.0.1", trainer.output_dir)
    return 0


def run_main():
    app.run(common.guarded(BINARY, main))


if __name__ == "__main__":
    sys.exit(run_main())
