"""The trainer: a small explicit loop (DESIGN.md) under a ``tf.distribute`` strategy.

    trainer = Trainer(problem=registry.problem("image_mnist"), model_name="shake_shake",
                      hparams=create_hparams("shake_shake_quick"), hparams_set="shake_shake_quick",
                      data_dir=..., output_dir=..., train_steps=1000, eval_steps=100)
    trainer.run("train_and_evaluate")

Where things run: ``train_step``/``eval_step`` are ``tf.function``s run per replica by the
strategy; everything else (checkpoints, summaries, progress lines, config checks) runs on
the host between steps.

``output_dir`` after a run::

    ckpt-<step>.index/.data-*   model, optimizer, step and (default strategy) input iterator
    checkpoint                  the CheckpointManager's index
    hparams.json  run.json      the resolved hparams; problem, model and hparams set names
    config.gin    flags.txt     the operative gin config; the binary's flags
    train/ eval/                TensorBoard events

Resume: a rerun of the same command continues from the latest checkpoint: model, optimizer,
step and input position, so a killed and resumed run ends with the weights of an
uninterrupted one (same seed). Under the default strategy the iterator itself is saved;
distributed iterators are not checkpointable in TF 2.21, so under ``mirrored`` and
``multi_worker`` the input is re-positioned by skipping the batches already consumed
(deterministic pipeline, same result). A different problem, model or hparams on resume is
refused with a readable diff unless ``allow_config_change``.
"""

import json
import os
import time
from typing import Any, Callable, Dict, Optional

import gin
import numpy as np
import keras
import tensorflow as tf
from absl import logging

from t2x import registry
from t2x.hparam import HParams
from t2x.model import checkpoint_weights
from t2x.problem import Mode
from t2x.training import learning_rate as lr_lib
from t2x.training import optimizers
from t2x.training.decoder import build_model

STRATEGIES = ("default", "mirrored", "multi_worker")

# What a gin file may name besides Trainer: Keras optimizers and the T2T schedule.
for _optimizer in (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.SGD,
                   keras.optimizers.RMSprop, keras.optimizers.Adafactor):
    gin.external_configurable(_optimizer, module="keras.optimizers")
gin.external_configurable(lr_lib.T2XLearningRate, module="t2x")


class TrainingError(RuntimeError):
    """The run cannot go on (NaN loss, refused config change); the message says why and what to do."""


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--strategy={name!r} is not one of {', '.join(STRATEGIES)}")


def _fmt_seconds(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@gin.configurable(denylist=["problem", "model_name", "hparams", "hparams_set", "data_dir",
                            "output_dir", "flags_text"])  # gin binds the options: Trainer.log_every = 10
class Trainer:
    """Trains and evaluates one model on one problem; see the module docstring."""

    def __init__(self, *, problem, model_name: str, hparams: HParams, hparams_set: str,
                 data_dir: str, output_dir: str, train_steps: int = 1000, eval_steps: int = 100,
                 eval_every: int = 1000, save_checkpoints_steps: int = 1000,
                 keep_checkpoint_max: int = 5, strategy: str = "default", random_seed: int = 429459,
                 log_every: int = 100, allow_config_change: bool = False,
                 eval_batch_size: Optional[int] = None, num_summary_images: int = 4,
                 optimizer_fn: Optional[Callable] = None, learning_rate_fn: Optional[Callable] = None,
                 flags_text: Optional[str] = None, eval_decode_split: Optional[str] = None,
                 eval_decode_examples: int = 0, decode_hparams: str = "", bleu_tokenize: str = "13a"):
        """Keyword-only; checked here, before anything runs.

        ``optimizer_fn(learning_rate=schedule)`` replaces the optimizer named by
        ``hparams.optimizer`` and ``learning_rate_fn(hparams, train_steps)`` the hparams'
        schedule: both are for gin (``Trainer.optimizer_fn = @keras.optimizers.SGD``).

        ``eval_decode_split`` (e.g. "dev" or "test"): after each evaluation, decode that
        split with ``decode_hparams`` (``t2x-decoder``'s, same code) and report sacreBLEU
        (``bleu_tokenize``) as ``bleu`` -- real decoding, not teacher forcing; the first
        ``eval_decode_examples`` examples only, when > 0. The decodes are written to
        ``<output_dir>/decodes/<split>-<step>.txt``.
        """
        if train_steps < 0 or eval_steps < 0:
            raise ValueError(f"train_steps ({train_steps}) and eval_steps ({eval_steps}) must be >= 0")
        for name, value in (("eval_every", eval_every), ("save_checkpoints_steps", save_checkpoints_steps),
                            ("log_every", log_every), ("keep_checkpoint_max", keep_checkpoint_max)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.problem = problem
        self.model_name = model_name
        self.hparams = hparams
        self.hparams_set = hparams_set
        self.data_dir = data_dir
        self.output_dir = output_dir
        self.train_steps = train_steps
        self.eval_steps = eval_steps
        self.eval_every = eval_every
        self.save_checkpoints_steps = save_checkpoints_steps
        self.keep_checkpoint_max = keep_checkpoint_max
        self.random_seed = random_seed
        self.log_every = log_every
        self.allow_config_change = allow_config_change
        self.num_summary_images = num_summary_images
        self.flags_text = flags_text
        self.optimizer_fn = optimizer_fn
        self.learning_rate_fn = learning_rate_fn or lr_lib.T2XLearningRate
        self.strategy_name = strategy
        self.strategy = make_strategy(strategy)
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.global_batch_size = int(hparams.batch_size)
        if self.global_batch_size % self.num_replicas:
            raise ValueError(f"batch_size {self.global_batch_size} is not divisible by the "
                             f"{self.num_replicas} replicas")
        self.eval_batch_size = eval_batch_size or self.global_batch_size
        resolver = getattr(self.strategy, "cluster_resolver", None)
        self.is_chief = (resolver is None or not resolver.task_type or resolver.task_type == "chief"
                         or (resolver.task_type == "worker" and resolver.task_id == 0))
        from t2x.training import decoder as decoder_lib

        self.eval_decode_split = eval_decode_split or None
        self.eval_decode_examples = eval_decode_examples
        self.decode_hparams = decoder_lib.parse_decode_hparams(decode_hparams)
        self.bleu_tokenize = bleu_tokenize
        self._built = False
        self.last_eval: Dict[str, float] = {}

    # ------------------------------------------------------------------ set-up --
    def _problem_hparams(self) -> HParams:
        php = self.problem.get_hparams(self.hparams, data_dir=self.data_dir)
        return php

    def _dataset_fn(self, mode: str, skip_batches: int = 0) -> Callable:
        def fn(input_context: tf.distribute.InputContext):
            per_replica = (input_context.get_per_replica_batch_size(self.global_batch_size)
                           if mode == Mode.TRAIN else
                           max(1, self.eval_batch_size // input_context.num_replicas_in_sync))
            ds = self.problem.dataset(
                mode, self.data_dir, self.hparams, batch_size=per_replica,
                seed=self.random_seed, deterministic=True, input_context=input_context,
                drop_remainder=mode == Mode.TRAIN)
            return ds.skip(skip_batches) if skip_batches else ds
        return fn

    def _build(self) -> None:
        if self._built:
            return
        keras.utils.set_random_seed(self.random_seed)
        os.makedirs(self.output_dir, exist_ok=True)
        with self.strategy.scope():
            self.model = registry.model(self.model_name)(self.hparams, self._problem_hparams())
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            # The optimizer reads its rate from its own iteration counter, which advances with
            # self.step (one apply per step; a non-finite step stops the run).
            self.lr_fn = self.learning_rate_fn(self.hparams, self.train_steps)
            self.optimizer = (self.optimizer_fn(learning_rate=self.lr_fn) if self.optimizer_fn
                              else optimizers.make_optimizer(self.hparams, self.lr_fn))
            build_model(self.model, self.problem, self.data_dir, self.hparams)
            self.optimizer.build(self.model.trainable_variables)
        self.ckpt = tf.train.Checkpoint(model_weights=checkpoint_weights(self.model),
                                        optimizer=self.optimizer, step=self.step)
        # Under multi_worker every worker takes part in saving; only the chief writes to
        # output_dir, the others to a scratch folder of their own inside it.
        ckpt_dir = self.output_dir if self.is_chief else os.path.join(
            self.output_dir, f".worker-{self.strategy.cluster_resolver.task_id}")
        self.manager = tf.train.CheckpointManager(self.ckpt, ckpt_dir,
                                                  max_to_keep=self.keep_checkpoint_max)
        self._built = True

    # ----------------------------------------------------------- config files --
    def _run_info(self) -> Dict[str, Any]:
        return {"problem": self.problem.full_name, "model": self.model_name,
                "hparams_set": self.hparams_set}

    def check_and_write_config(self) -> None:
        """Refuses a changed configuration on resume (unless allowed); writes hparams.json,
        run.json and config.gin atomically."""
        hp_path = os.path.join(self.output_dir, "hparams.json")
        run_path = os.path.join(self.output_dir, "run.json")
        if os.path.exists(hp_path) and not self.allow_config_change:
            with open(hp_path) as f:
                old = HParams.from_json(f.read())
            diff = old.diff(self.hparams)
            if os.path.exists(run_path):
                with open(run_path) as f:
                    old_run = json.load(f)
                diff += [f"{k}: {old_run.get(k)!r} -> {v!r}" for k, v in self._run_info().items()
                         if old_run.get(k) != v]
            if diff:
                raise TrainingError(
                    f"{self.output_dir} holds a run with another configuration ({'; '.join(diff)}); "
                    "use another --output_dir, or pass --allow_config_change to continue anyway")
        os.makedirs(self.output_dir, exist_ok=True)
        _write_atomic(hp_path, self.hparams.to_json())
        # data_dir is recorded for t2x-decoder (the vocabulary is there), not compared.
        _write_atomic(run_path, json.dumps(dict(self._run_info(), data_dir=self.data_dir), indent=2))
        _write_atomic(os.path.join(self.output_dir, "config.gin"), gin.config_str())
        if self.flags_text is not None:
            _write_atomic(os.path.join(self.output_dir, "flags.txt"), self.flags_text)

    # ------------------------------------------------------------------ steps --
    def _replica_train_step(self, features):
        ctx = tf.distribute.get_replica_context()
        distributed = self.num_replicas > 1
        with tf.GradientTape() as tape:
            logits = self.model(features, training=True)
            num, den = self.model.loss_fn(logits, features, training=True)
            global_den = ctx.all_reduce(tf.distribute.ReduceOp.SUM, den) if distributed else den
            loss = num / tf.maximum(global_den, 1.0)
            decay_rate = optimizers.l2_weight_decay_rate(self.hparams)
            total = loss
            if decay_rate:
                total += optimizers.weight_decay_loss(self.model.trainable_variables,
                                                      decay_rate) / self.num_replicas
        variables = self.model.trainable_variables
        grads = tape.gradient(total, variables)
        if distributed:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, grad_norm = optimizers.clip_gradients(grads, self.hparams.get("clip_grad_norm", 0.0))
        global_loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss) if distributed else loss
        finite = tf.logical_and(tf.math.is_finite(global_loss), tf.math.is_finite(grad_norm))

        if self.num_replicas == 1:
            # Skip the update of a non-finite step; the host then stops the run.
            def apply():
                self.optimizer.apply_gradients(zip(grads, variables))
                return tf.constant(True)

            tf.cond(finite, apply, lambda: tf.constant(False))
        else:
            # Keras sums gradients over replicas again: hand it each replica's share. A
            # non-finite step applies zeros (apply_gradients cannot sit in a tf.cond under
            # MirroredStrategy); the host then stops the run without saving.
            scale = tf.where(finite, 1.0 / self.num_replicas, 0.0)
            self.optimizer.apply_gradients(
                [(tf.where(finite, g, tf.zeros_like(g)) * tf.cast(scale, g.dtype), v)
                 for g, v in zip(grads, variables)])
        return {"loss": global_loss, "grad_norm": grad_norm, "finite": finite, "tokens": global_den}

    @tf.function
    def _train_step(self, iterator):
        out = self.strategy.run(self._replica_train_step, args=(next(iterator),))
        out = {k: self.strategy.experimental_local_results(v)[0] for k, v in out.items()}
        self.step.assign_add(tf.cast(out["finite"], tf.int64))
        return out

    def _replica_eval_step(self, features):
        logits = self.model(features, training=False)
        num, den = self.model.loss_fn(logits, features, training=False)
        targets = tf.cast(features["targets"], tf.int64)
        weights = self.model.modalities["targets"].targets_weights(features["targets"])
        out = {"loss_num": num, "loss_den": den, "weights": tf.reduce_sum(weights)}
        if logits.shape.rank == targets.shape.rank + 1 and logits.shape[-1] and logits.shape[-1] > 1:
            pred = tf.argmax(logits, -1)
            out["correct"] = tf.reduce_sum(tf.cast(tf.equal(pred, targets), tf.float32) * weights)
            k = min(5, int(logits.shape[-1]))
            top_k = tf.math.top_k(tf.cast(logits, tf.float32), k=k).indices
            in_top = tf.reduce_any(tf.equal(tf.cast(top_k, tf.int64), targets[..., None]), -1)
            out["correct_top5"] = tf.reduce_sum(tf.cast(in_top, tf.float32) * weights)
            if targets.shape.rank == 2 and self.problem.variable_length:
                # Teacher-forced: every non-padding token of the sequence right.
                wrong = tf.cast(tf.not_equal(pred, targets), tf.float32) * weights
                out["correct_sequences"] = tf.reduce_sum(
                    tf.cast(tf.equal(tf.reduce_sum(wrong, -1), 0.0), tf.float32))
                out["sequences"] = tf.cast(tf.shape(targets)[0], tf.float32)
        return out

    @tf.function(reduce_retracing=True)  # length-bucketed batches vary in shape
    def _eval_step(self, features):
        out = self.strategy.run(self._replica_eval_step, args=(features,))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

    # --------------------------------------------------------------- schedules --
    def restore(self) -> int:
        """Restores the latest checkpoint of output_dir, if any; returns its step."""
        self._build()
        latest = self.manager.latest_checkpoint
        if latest:
            self.ckpt.restore(latest).assert_existing_objects_matched()
            logging.info("Restored %s (step %d)", latest, int(self.step.numpy()))
        return int(self.step.numpy())

    def train(self, eval_fn: Optional[Callable[[], Dict[str, float]]] = None) -> Dict[str, float]:
        """Trains up to ``train_steps`` global steps, from the latest checkpoint if any."""
        self._build()
        if self.is_chief:
            self.check_and_write_config()
        start_step = self.restore()
        if start_step >= self.train_steps:
            logging.info("Step %d >= --train_steps=%d: training is done, nothing to train",
                         start_step, self.train_steps)
            return {}
        default = self.strategy_name == "default"
        dist = self.strategy.distribute_datasets_from_function(
            self._dataset_fn(Mode.TRAIN, skip_batches=0 if default else start_step))
        iterator = iter(dist)
        if default:
            iter_ckpt = tf.train.Checkpoint(iterator=iterator)
            self.ckpt.iterator = iterator  # saved with every checkpoint from now on
            latest = self.manager.latest_checkpoint
            if latest and start_step:
                status = iter_ckpt.restore(latest)
                status.expect_partial()
        writer = self._summary_writer("train")
        if start_step == 0:
            self._write_text_summaries(writer)
        last_log_time, last_log_step = time.monotonic(), start_step
        run_start = last_log_time
        step, metrics = start_step, {}
        variable = self.problem.variable_length
        block_tokens = 0.0
        while step < self.train_steps:
            out = self._train_step(iterator)
            if not bool(out["finite"].numpy()):
                kept = self.manager.latest_checkpoint or "none yet"
                raise TrainingError(
                    f"loss is {float(out['loss'].numpy())} (grad norm {float(out['grad_norm'].numpy())}) "
                    f"at step {step + 1}; stopped without applying it. Last good checkpoint: {kept}. "
                    "Lower the learning rate (--hparams=learning_rate=...) or check the data")
            step += 1
            block_tokens += float(out["tokens"].numpy()) if variable else 0.0
            if step == start_step + 1 and self.num_summary_images and start_step == 0:
                self._write_image_summary(writer)
            if step % self.log_every == 0 or step == self.train_steps:
                now = time.monotonic()
                steps_per_s = (step - last_log_step) / max(now - last_log_time, 1e-9)
                metrics = {"loss": float(out["loss"].numpy()), "grad_norm": float(out["grad_norm"].numpy()),
                           "learning_rate": float(tf.convert_to_tensor(self.lr_fn(step - 1)).numpy()),
                           "steps_per_sec": steps_per_s}
                if variable:  # batch_size is a token budget: count the real target tokens
                    metrics["tokens_per_sec"] = block_tokens / max(now - last_log_time, 1e-9)
                else:
                    metrics["examples_per_sec"] = steps_per_s * self.global_batch_size
                block_tokens = 0.0
                with writer.as_default(step=step):
                    for k, v in metrics.items():
                        tf.summary.scalar(k, v)
                eta = (self.train_steps - step) / max(steps_per_s, 1e-9)
                rate = (f"{metrics['tokens_per_sec']:.0f} target tokens/s" if variable
                        else f"{metrics['examples_per_sec']:.1f} examples/s")
                logging.info("step %d/%d: loss %.4f, lr %.3g, grad norm %.3g, %s, %.2f steps/s, ETA %s",
                             step, self.train_steps, metrics["loss"], metrics["learning_rate"],
                             metrics["grad_norm"], rate, steps_per_s, _fmt_seconds(eta))
                last_log_time, last_log_step = now, step
            if step % self.save_checkpoints_steps == 0 or step == self.train_steps:
                self.manager.save(checkpoint_number=step)
            if eval_fn is not None and (step % self.eval_every == 0 and step < self.train_steps):
                if self.manager.latest_checkpoint is None or not self.manager.latest_checkpoint.endswith(f"-{step}"):
                    self.manager.save(checkpoint_number=step)
                eval_fn()
        writer.flush()
        logging.info("Trained %d steps in %s", step - start_step, _fmt_seconds(time.monotonic() - run_start))
        return metrics

    def evaluate(self) -> Dict[str, float]:
        """Evaluates the current weights on up to ``eval_steps`` dev batches (all if 0 or
        the dev set ends first); writes eval/ summaries; returns the metrics."""
        self._build()
        if not self.manager.latest_checkpoint and int(self.step.numpy()) == 0:
            logging.warning("No checkpoint in %s: evaluating freshly initialised weights", self.output_dir)
        ds = self.strategy.distribute_datasets_from_function(self._dataset_fn(Mode.EVAL))
        totals: Dict[str, float] = {}
        batches = 0
        for features in ds:
            out = self._eval_step(features)
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v.numpy())
            batches += 1
            if self.eval_steps and batches >= self.eval_steps:
                break
        loss = totals["loss_num"] / max(totals["loss_den"], 1.0)
        metrics = {"loss": loss, "neg_log_perplexity": -loss}
        modality = self.model.problem_hparams.modality
        if modality.get("targets") == "symbol" and "inputs" not in modality:
            # A language model: per-token perplexity (EOS counted as a token, teacher-forced).
            metrics["perplexity"] = float(np.exp(min(loss, 50.0)))
        if "correct" in totals:
            metrics["accuracy"] = totals["correct"] / max(totals["weights"], 1.0)
            metrics["accuracy_top5"] = totals["correct_top5"] / max(totals["weights"], 1.0)
        if "correct_sequences" in totals:
            metrics["accuracy_per_sequence"] = totals["correct_sequences"] / max(totals["sequences"], 1.0)
        metrics["eval_batches"] = float(batches)
        step = int(self.step.numpy())
        if self.eval_decode_split and self.is_chief:
            metrics.update(self._decode_bleu(step))
        writer = self._summary_writer("eval")
        with writer.as_default(step=step):
            for k, v in metrics.items():
                if k != "eval_batches":
                    tf.summary.scalar(k, v)
            self._write_hparams_summary(metrics)
        writer.flush()
        logging.info("eval at step %d (%d batches): %s", step, batches,
                     ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "eval_batches"))
        self.last_eval = metrics
        return metrics

    def _decode_bleu(self, step: int) -> Dict[str, float]:
        """Decodes ``eval_decode_split`` with the current weights; sacreBLEU of the result."""
        from t2x import bleu
        from t2x.training import decoder as decoder_lib

        decoder = decoder_lib.SequenceDecoder(self.model, self.problem, self.data_dir, self.decode_hparams)
        hypotheses, references = decoder.decode_split(self.eval_decode_split, self.eval_decode_examples)
        decoder_lib.write_lines_atomic(
            os.path.join(self.output_dir, "decodes", f"{self.eval_decode_split}-{step}.txt"), hypotheses)
        score = bleu.corpus_bleu(hypotheses, references, tokenize=self.bleu_tokenize)
        logging.info("decoded %d %s sentences at step %d (%.1f sentences/s): %s", len(hypotheses),
                     self.eval_decode_split, step, decoder.last_sentences_per_second, score.format())
        return {"bleu": score.score}

    def train_and_evaluate(self) -> Dict[str, float]:
        """Trains, evaluating every ``eval_every`` steps and at the end."""
        self.train(eval_fn=self.evaluate)
        return self.evaluate()

    def continuous_eval(self, timeout_s: Optional[float] = None) -> Dict[str, float]:
        """Evaluates each new checkpoint of output_dir until one reaches ``train_steps``."""
        self._build()
        for path in tf.train.checkpoints_iterator(self.output_dir, timeout=timeout_s):
            self.ckpt.restore(path).expect_partial()
            self.evaluate()
            if int(self.step.numpy()) >= self.train_steps:
                break
        return self.last_eval

    def run(self, schedule: str) -> Dict[str, float]:
        schedules = {"train": self.train, "evaluate": self._restore_and_evaluate,
                     "train_and_evaluate": self.train_and_evaluate,
                     "continuous_eval": self.continuous_eval}
        if schedule not in schedules:
            raise ValueError(f"--schedule={schedule!r} is not one of {', '.join(schedules)}")
        return schedules[schedule]()

    def _restore_and_evaluate(self) -> Dict[str, float]:
        self.restore()
        return self.evaluate()

    # -------------------------------------------------------------- summaries --
    def _summary_writer(self, name: str):
        """TensorBoard events of ``name`` (train/eval); only the chief writes them."""
        if not self.is_chief:
            return tf.summary.create_noop_writer()
        return tf.summary.create_file_writer(os.path.join(self.output_dir, name))

    def _write_text_summaries(self, writer) -> None:
        with writer.as_default(step=0):
            tf.summary.text("hparams", "```\n" + self.hparams.to_json() + "\n```")
            tf.summary.text("config_gin", "```\n" + (gin.config_str() or "(empty)") + "\n```")
            tf.summary.text("run", "```\n" + json.dumps(self._run_info(), indent=2) + "\n```")

    def _write_image_summary(self, writer) -> None:
        info = self.problem.get_hparams()
        if info.modality.get("inputs") != "image":
            return
        batch = next(iter(self.problem.dataset(Mode.EVAL, self.data_dir, self.hparams,
                                               batch_size=self.num_summary_images)))
        images = tf.cast(batch["inputs"], tf.float32)
        lo = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
        hi = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
        with writer.as_default(step=0):
            tf.summary.image("inputs", (images - lo) / tf.maximum(hi - lo, 1e-6),
                             max_outputs=self.num_summary_images)

    def _write_hparams_summary(self, metrics: Dict[str, float]) -> None:
        from tensorboard.plugins.hparams import api as hp_api

        values = {"hparams_set": self.hparams_set, "model": self.model_name,
                  "problem": self.problem.full_name}
        for k, v in self.hparams.values().items():
            if isinstance(v, (bool, int, float, str)):
                values[k] = v
        hp_api.hparams(values, trial_id=os.path.basename(os.path.normpath(self.output_dir)))


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def train(*, problem: str, model: str, hparams_set: str, hparams: str = "", data_dir: str,
          output_dir: str, tmp_dir: Optional[str] = None, generate_data: bool = False,
          schedule: str = "train_and_evaluate", **trainer_kwargs) -> Dict[str, float]:
    """The Python twin of ``t2x-trainer``: returns the last eval metrics (or train metrics)."""
    from t2x.hparam import create_hparams
    from t2x.data.download import default_tmp_dir

    prob = registry.problem(problem)
    if generate_data:
        prob.generate_data(data_dir, tmp_dir or default_tmp_dir(data_dir),
                           random_seed=trainer_kwargs.get("random_seed", 429459))
    hp = create_hparams(hparams_set, hparams)
    trainer = Trainer(problem=prob, model_name=model, hparams=hp, hparams_set=hparams_set,
                      data_dir=data_dir, output_dir=output_dir, **trainer_kwargs)
    return trainer.run(schedule)


