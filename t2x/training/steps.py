"""The compiled steps of the trainer: what runs per replica inside ``tf.function``.

``CompiledSteps`` holds the model, optimizer and strategy the ``Trainer`` built and gives it
two compiled functions: ``train_step(iterator)`` (one optimizer step: one batch, or N
micro-batches with gradient accumulation; weight decay, clipping, a skipped non-finite step,
float16 loss scaling; advances ``step``) and ``eval_step(features)`` (the sums of one eval
batch: the loss's and the step metrics', ``t2x.metrics``). The per-replica functions are
XLA-compiled with ``xla``. The host loop (checkpoints, summaries, evaluation, resume) stays
in ``t2x.training.trainer``.
"""

from typing import Sequence

import tensorflow as tf

from t2x import metrics as metrics_lib
from t2x.training import optimizers


class CompiledSteps:
    """Keyword-only; ``loss_scale`` (``scale.DynamicLossScale``) and ``accumulator``
    (``scale.GradientAccumulator``) are None when not used."""

    def __init__(self, *, model, optimizer, strategy, hparams, step: tf.Variable, step_metrics: Sequence[str],
                 loss_scale=None, accumulator=None, accumulate_steps: int = 1, xla: bool = False):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync
        self.hparams = hparams
        self.step = step
        self.step_metrics = list(step_metrics)
        self.loss_scale = loss_scale
        self.accumulator = accumulator
        self.accumulate_steps = accumulate_steps
        self.xla = xla

    def replica_gradients(self, features):
        """One micro-batch: ``(gradients of the loss numerator, numerator, denominator)``.
        The gradients are of the *sum* of weighted token losses (times the loss scale under
        float16), so micro-batches add up to the gradient of one large batch exactly."""
        with tf.GradientTape() as tape:
            logits = self.model(features, training=True)
            num, den = self.model.loss_fn(logits, features, training=True)
            # float16: the float16 backward pass sees the *mean* loss times the loss scale
            # (Keras's convention); the result is brought back to the numerator's gradient.
            unscale = 1.0
            if self.loss_scale is not None:
                unscale = tf.stop_gradient(tf.maximum(den, 1.0) / self.loss_scale.scale)
            scaled = num / unscale
        grads = tape.gradient(scaled, self.model.trainable_variables)
        return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) * tf.cast(unscale, v.dtype)
                for g, v in zip(grads, self.model.trainable_variables)], num, den

    def replica_apply(self, num_grads, num, den):
        """Normalises the summed gradients by the global number of weighted targets, adds
        weight decay, clips, and applies them (a non-finite step is skipped; under float16
        an overflow of the scaled gradients halves the loss scale instead of stopping)."""
        ctx = tf.distribute.get_replica_context()
        distributed = self.num_replicas > 1
        variables = self.model.trainable_variables
        global_den = ctx.all_reduce(tf.distribute.ReduceOp.SUM, den) if distributed else den
        denominator = tf.maximum(global_den, 1.0)
        grads = [g / tf.cast(denominator, g.dtype) for g in num_grads]
        loss = num / tf.maximum(global_den, 1.0)
        decay_rate = optimizers.l2_weight_decay_rate(self.hparams)
        if decay_rate:
            with tf.GradientTape() as tape:
                decay = optimizers.weight_decay_loss(variables, decay_rate) / self.num_replicas
            grads = [g + tf.cast(d, g.dtype) if d is not None else g
                     for g, d in zip(grads, tape.gradient(decay, variables))]
        if distributed:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, grad_norm = optimizers.clip_gradients(grads, self.hparams.get("clip_grad_norm", 0.0))
        global_loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss) if distributed else loss
        finite = tf.logical_and(tf.math.is_finite(global_loss), tf.math.is_finite(grad_norm))
        overflow = tf.constant(False)
        if self.loss_scale is not None:
            # Dynamic loss scaling (Keras's LossScaleOptimizer's rule): an overflow skips the
            # update and halves the scale; 2000 good steps in a row double it.
            overflow = tf.logical_and(tf.math.is_finite(global_loss), tf.logical_not(finite))
            self.loss_scale.update(finite)

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
        return {"loss": global_loss, "grad_norm": grad_norm,
                "finite": tf.logical_or(finite, overflow), "overflow": overflow, "tokens": global_den}

    def _replica_train_step(self, features):
        return self.replica_apply(*self.replica_gradients(features))

    def _replica_accumulate(self, features):
        self.accumulator.add(*self.replica_gradients(features))

    def _replica_apply_accumulated(self):
        return self.replica_apply(*self.accumulator.take())

    def _compiled(self, fn):
        """``fn`` as run per replica: XLA-compiled with ``xla`` (``jit_compile``)."""
        return tf.function(fn, jit_compile=True) if self.xla else fn

    @tf.function
    def train_step(self, iterator):
        if self.accumulate_steps == 1:
            out = self.strategy.run(self._compiled(self._replica_train_step), args=(next(iterator),))
        else:
            # N micro-batches, one after the other (a graph loop: one micro-batch's
            # activations at a time), then one optimizer step. The loop sits inside this one
            # compiled step, so no checkpoint ever falls inside an accumulation.
            accumulate = self._compiled(self._replica_accumulate)
            for _ in tf.range(self.accumulate_steps):
                self.strategy.run(accumulate, args=(next(iterator),))
            out = self.strategy.run(self._compiled(self._replica_apply_accumulated))
        out = {k: self.strategy.experimental_local_results(v)[0] for k, v in out.items()}
        self.step.assign_add(tf.cast(out["finite"], tf.int64))
        return out

    def _replica_eval_step(self, features):
        """Sums of one eval batch: the loss's and those of the step metrics (t2x.metrics)."""
        logits = self.model(features, training=False)
        num, den = self.model.loss_fn(logits, features, training=False)
        weights = tf.cast(self.model.modalities["targets"].targets_weights(features["targets"]), tf.float32)
        out = {"loss_num": num, "loss_den": den}
        out.update(metrics_lib.step_sums(self.step_metrics, logits, features["targets"], weights))
        out.update(self.model.step_sums(features))  # the model's own (a ponder cost)
        return out

    @tf.function(reduce_retracing=True)  # length-bucketed batches vary in shape
    def eval_step(self, features):
        out = self.strategy.run(self._compiled(self._replica_eval_step), args=(features,))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}
