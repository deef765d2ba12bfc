"""The trainer: a small explicit loop (DESIGN.md) under a ``tf.distribute`` strategy.

    trainer = Trainer(problem=registry.problem("image_mnist"), model_name="shake_shake",
                      hparams=create_hparams("shake_shake_quick"), hparams_set="shake_shake_quick",
                      data_dir=..., output_dir=..., train_steps=1000, eval_steps=100)
    trainer.run("train_and_evaluate")

Where things run: ``train_step``/``eval_step`` are ``tf.function``s run per replica by the
strategy; everything else (checkpoints, summaries, progress lines, config checks) runs on
the host between steps.

``output_dir`` after a run (its configuration files are ``t2x.runs.run_dir``'s)::

    ckpt-<step>.index/.data-*   model, optimizer, step and (default strategy) input iterator
    checkpoint                  the CheckpointManager's index
    hparams.json  run.json      the resolved hparams; problem, model and hparams set names
    config.gin    flags.txt     the operative gin config; the binary's flags
    train/ eval/                TensorBoard events
    decodes/<split>-<step>.txt  decodes behind decode-based metrics (bleu, rouge_*, ...)

Evaluation reports the metrics the problem's ``eval_metrics()`` (and the model's) name,
from ``t2x.metrics``: teacher-forced ones as sums inside the compiled eval step,
decode-based ones from decoding ``eval_decode_split`` (default dev) with the decoder
``t2x-decoder`` runs. ``t2x.training.run.run_training`` is the library behind
``t2x-trainer`` (names in, a Trainer run): it picks the model's default hparams set when
none is named and generates missing shards.

Resume: a rerun of the same command continues from the latest checkpoint: model, optimizer,
step and input position, so a killed and resumed run ends with the weights of an
uninterrupted one (same seed). Under the default strategy the iterator itself is saved;
distributed iterators are not checkpointable in TF 2.21, so under ``mirrored`` and
``multi_worker`` the input is re-positioned by skipping the batches already consumed
(deterministic pipeline, same result): one per-replica batch per step for each replica
an input pipeline feeds (``replicas_per_pipeline``). A different problem, model or hparams on resume is
refused with a readable diff unless ``allow_config_change``.
"""

import contextlib
import os
from typing import Callable, Dict, Optional, Sequence

import gin
import keras
import tensorflow as tf
from absl import logging

from t2x import metrics as metrics_lib
from t2x.data.problem import DatasetSplit, Mode, ProblemKind, problem_kind
from t2x.errors import ConfigError, DataError, T2XError
from t2x.hparam import HParams
from t2x.model import (check_model_hparams, create_model,
                       dtype_policy_name)
from t2x.training import learning_rate as lr_lib
from t2x.training import optimizers, reporting, scale, selection, steps
from t2x.training.evaluator import Evaluator
from t2x.training.options import EVAL, LOOP, SELECTION
from t2x.training.preemption import Preempted, StopSignals
from t2x.runs import checkpoints
from t2x.runs.run_dir import RunDir, RunInfo, first_line, unwritable

STRATEGIES = ("default", "mirrored", "multi_worker")

# What a gin file may name besides Trainer: Keras optimizers and the T2T schedule.
for _optimizer in (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.SGD,
                   keras.optimizers.RMSprop, keras.optimizers.Adafactor):
    gin.external_configurable(_optimizer, module="keras.optimizers")
gin.external_configurable(lr_lib.T2XLearningRate, module="t2x")


class TrainingError(T2XError, RuntimeError):
    """The run cannot go on (NaN loss, refused config change); the message says why and what to do."""


def replicas_per_pipeline(input_context: tf.distribute.InputContext) -> int:
    """How many per-replica batches one input pipeline gives to each global step: one for
    each replica that it feeds (2 under ``mirrored`` on 2 devices, 1 per worker under
    ``multi_worker`` with one device each)."""
    return max(1, input_context.num_replicas_in_sync // max(1, input_context.num_input_pipelines))


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--strategy={name!r} is not one of {', '.join(STRATEGIES)}")


@gin.configurable(denylist=["problem", "model_name", "hparams", "hparams_set", "data_dir",
                            "output_dir", "flags_text", "t2x_usr_dir"])  # gin binds the options: Trainer.log_every = 10
class Trainer:
    """Trains and evaluates one model on one problem; see the module docstring."""

    def __init__(self, *, problem, model_name: str, hparams: HParams, hparams_set: str,
                 data_dir: str, output_dir: str, train_steps: int = LOOP.train_steps,
                 eval_steps: int = EVAL.eval_steps, eval_every: int = LOOP.eval_every,
                 save_checkpoints_steps: int = LOOP.save_checkpoints_steps,
                 keep_checkpoint_max: int = LOOP.keep_checkpoint_max, strategy: str = LOOP.strategy,
                 random_seed: int = LOOP.random_seed, log_every: int = LOOP.log_every,
                 allow_config_change: bool = LOOP.allow_config_change,
                 eval_batch_size: Optional[int] = EVAL.eval_batch_size,
                 num_summary_images: int = LOOP.num_summary_images,
                 optimizer_fn: Optional[Callable] = None, learning_rate_fn: Optional[Callable] = None,
                 flags_text: Optional[str] = None, eval_decode_split: Optional[str] = EVAL.eval_decode_split,
                 eval_decode_examples: int = EVAL.eval_decode_examples,
                 decode_hparams: str = EVAL.decode_hparams, bleu_tokenize: str = EVAL.bleu_tokenize,
                 t2x_usr_dir: Optional[str] = None, warm_start_from: Optional[str] = None,
                 xla: bool = LOOP.xla, early_stopping_metric: Optional[str] = SELECTION.early_stopping_metric,
                 early_stopping_patience: int = SELECTION.early_stopping_patience,
                 keep_best_checkpoint: bool = SELECTION.keep_best_checkpoint,
                 eval_callbacks: Sequence[Callable[[int, Dict[str, float]], None]] = ()):
        """Keyword-only; checked here, before anything runs. The defaults are
        ``t2x.training.options``' (the binary's flags and the tuner take the same).

        ``optimizer_fn(learning_rate=schedule)`` replaces the optimizer named by
        ``hparams.optimizer`` and ``learning_rate_fn(hparams, train_steps)`` the hparams'
        schedule: both are for gin (``Trainer.optimizer_fn = @keras.optimizers.SGD``).

        Decode-based metrics (``bleu``, ``rouge_*``, ``edit_distance``, ``wer``: those the
        problem's ``eval_metrics()`` names) decode ``eval_decode_split`` (default dev) after
        each evaluation with ``decode_hparams`` (``t2x-decoder``'s, same code) -- real
        decoding, not teacher forcing; the first ``eval_decode_examples`` examples only,
        when > 0. Naming ``eval_decode_split`` for a problem that lists none reports
        sacreBLEU (``bleu_tokenize``) as ``bleu``. The decodes are written to
        ``<output_dir>/decodes/<split>-<step>.txt``.

        ``xla``: compile the per-replica train and eval steps with XLA (``jit_compile``).
        Off by default: on this project's 2-core CPU it measured slower (DESIGN.md); on a GPU
        it usually pays (fused kernels, fewer launches).

        Precision and batch come from the hparams: ``activation_dtype`` (``bfloat16`` or
        ``float16``: a Keras mixed-precision policy, float32 weights; float16 adds dynamic
        loss scaling) and ``optimizer_multistep_accumulate_steps`` (N micro-batches of
        ``batch_size`` per optimizer step: the gradient of one batch N times larger).

        Model selection (``train_and_evaluate``): ``early_stopping_metric`` (``eval/<name>``
        or ``<name>``: the eval loss or a metric the problem reports; lower is better for
        loss, perplexity, edit distance and WER, higher for the others) is tracked after every
        evaluation in the run's ``best.json``; with ``early_stopping_patience = N > 0``
        training stops after N evaluations in a row without improvement; with
        ``keep_best_checkpoint`` the best step's checkpoint is kept in ``output_dir/best/``
        (a run directory of its own). A resumed run keeps the best value, its step and the
        patience count. ``eval_callbacks``: ``fn(step, metrics)`` after each evaluation
        during training (the tuner's pruner; an exception it raises ends the run).

        ``warm_start_from`` (a run directory or checkpoint prefix): a run that starts from
        step 0 takes the weights of matching names and shapes from it
        (``t2x.runs.warm_start``; the unmatched ones are listed; none matching is a
        ConfigError); a resumed run ignores it, with a warning saying so.
        """
        for name, value in (("train_steps", train_steps), ("eval_steps", eval_steps),
                            ("eval_every", eval_every), ("save_checkpoints_steps", save_checkpoints_steps),
                            ("keep_checkpoint_max", keep_checkpoint_max), ("random_seed", random_seed),
                            ("log_every", log_every), ("num_summary_images", num_summary_images),
                            ("eval_decode_examples", eval_decode_examples),
                            ("eval_batch_size", 1 if eval_batch_size is None else eval_batch_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"Trainer.{name} must be an integer, got {type(value).__name__} {value!r} "
                                  "(--gin_param or the flag of that name)")
        for name, value in (("allow_config_change", allow_config_change), ("xla", xla),
                            ("keep_best_checkpoint", keep_best_checkpoint)):
            if not isinstance(value, bool):
                raise ConfigError(f"Trainer.{name} must be True or False, got {value!r}")
        if os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise ConfigError(f"--output_dir={output_dir} is a file, not a directory; pick another path")
        if train_steps < 0 or eval_steps < 0:
            raise ConfigError(f"train_steps ({train_steps}) and eval_steps ({eval_steps}) must be >= 0")
        for name, value in (("eval_decode_examples", eval_decode_examples), ("random_seed", random_seed),
                            ("num_summary_images", num_summary_images)):
            if value < 0:
                raise ConfigError(f"--{name}={value} must be >= 0" + (" (0: all)" if name == "eval_decode_examples" else ""))
        for name, value in (("eval_every", eval_every), ("save_checkpoints_steps", save_checkpoints_steps),
                            ("log_every", log_every), ("keep_checkpoint_max", keep_checkpoint_max)):
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if warm_start_from is not None:
            from t2x.runs.warm_start import resolve_source

            resolve_source(warm_start_from)  # a wrong path fails now
        self.warm_start_from = warm_start_from
        self.warm_started: Optional[tuple] = None
        self.problem = problem
        self.model_name = model_name
        self.hparams = hparams
        self.hparams_set = hparams_set
        self.data_dir = data_dir
        self.output_dir = output_dir
        self.run_dir = RunDir(output_dir)
        self._created_output_dir = not os.path.exists(output_dir)
        self.t2x_usr_dir = t2x_usr_dir
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
        self.learning_rate_fn(hparams, train_steps)  # a bad schedule fails now, not at step 1
        if optimizer_fn is None:
            optimizers.canonical_optimizer_name(hparams.get("optimizer", "adam"))
        self.strategy_name = strategy
        self.strategy = make_strategy(strategy)
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.global_batch_size = int(hparams.batch_size)
        if self.global_batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.global_batch_size} (--hparams=batch_size=...)")
        if self.global_batch_size % self.num_replicas:
            raise ConfigError(f"batch_size {self.global_batch_size} is not divisible by the "
                             f"{self.num_replicas} replicas")
        self.eval_batch_size = eval_batch_size or self.global_batch_size
        self.xla = xla
        if (early_stopping_patience or keep_best_checkpoint) and not early_stopping_metric:
            raise ConfigError("--early_stopping_patience and --keep_best_checkpoint select by a metric: "
                              "name it with --early_stopping_metric=eval/<metric> (e.g. eval/accuracy, eval/loss)")
        self.eval_callbacks = list(eval_callbacks)
        self.stopped_early = False
        accumulate = hparams.get("optimizer_multistep_accumulate_steps", 0) or 1
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ConfigError(f"optimizer_multistep_accumulate_steps must be an integer >= 0, got "
                              f"{accumulate!r}")
        self.accumulate_steps = accumulate
        check_model_hparams(model_name, hparams)  # a bad activation_dtype or packed fails now
        self.mixed_policy = dtype_policy_name(hparams)
        resolver = getattr(self.strategy, "cluster_resolver", None)
        self.is_chief = (resolver is None or not resolver.task_type or resolver.task_type == "chief"
                         or (resolver.task_type == "worker" and resolver.task_id == 0))
        self.selection = selection.ModelSelection(
            run_dir=self.run_dir, metric=early_stopping_metric, patience=early_stopping_patience,
            keep_best=keep_best_checkpoint, is_chief=self.is_chief) if early_stopping_metric else None
        from t2x.inference import decoder as decoder_lib

        self.decode_hparams = decoder_lib.parse_decode_hparams(decode_hparams)
        self.bleu_tokenize = bleu_tokenize
        self.eval_decode_examples = eval_decode_examples
        self.step_metrics, self.decode_metrics = metrics_lib.split_names(problem.eval_metrics())
        if eval_decode_split and not self.decode_metrics:
            self.decode_metrics = ["bleu"]
        self.eval_decode_split = (eval_decode_split or DatasetSplit.EVAL) if self.decode_metrics else None
        self._built = False
        self.last_eval: Dict[str, float] = {}

    # ------------------------------------------------------------------ set-up --
    def _dataset_fn(self, mode: str, skip_steps: int = 0, problem=None) -> Callable:
        """The per-input-pipeline dataset function of ``distribute_datasets_from_function``;
        ``skip_steps`` global steps already consumed are skipped (resume under ``mirrored``
        and ``multi_worker``).

        Each pipeline yields per-replica batches and the distributed iterator deals them out
        one per local replica, so one global step takes ``replicas_per_pipeline`` batches
        from every pipeline: that many per step are skipped, not one."""
        def fn(input_context: tf.distribute.InputContext):
            per_replica = (input_context.get_per_replica_batch_size(self.global_batch_size)
                           if mode == Mode.TRAIN else
                           max(1, self.eval_batch_size // input_context.num_replicas_in_sync))
            ds = (problem or self.problem).dataset(
                mode, self.data_dir, self.hparams, batch_size=per_replica,
                seed=self.random_seed, deterministic=True, input_context=input_context,
                drop_remainder=mode == Mode.TRAIN)
            skip = skip_steps * replicas_per_pipeline(input_context) * self.accumulate_steps
            return ds.skip(skip) if skip else ds
        return fn

    def _build(self) -> None:
        """Model (from the training pipeline's element spec: no file opened), optimizer,
        step counter and checkpoint manager, under the strategy's scope."""
        if self._built:
            return
        keras.utils.set_random_seed(self.random_seed)
        os.makedirs(self.output_dir, exist_ok=True)
        with self.strategy.scope():
            self.model = create_model(self.problem, self.model_name, self.hparams, self.data_dir,
                                      element_spec=self.problem.element_spec(Mode.TRAIN, self.hparams))
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            # The optimizer reads its rate from its own iteration counter, which advances with
            # self.step (one apply per step; a non-finite step stops the run).
            self.lr_fn = self.learning_rate_fn(self.hparams, self.train_steps)
            self.optimizer = (self.optimizer_fn(learning_rate=self.lr_fn) if self.optimizer_fn
                              else optimizers.make_optimizer(self.hparams, self.lr_fn))
            self.optimizer.build(self.model.trainable_variables)
            self.loss_scale = scale.DynamicLossScale() if self.mixed_policy == "mixed_float16" else None
            self.accumulator = (scale.GradientAccumulator(self.model.trainable_variables)
                                if self.accumulate_steps > 1 else None)
        model_step, model_decode = metrics_lib.split_names(self.model.eval_metrics())
        self.step_metrics = list(dict.fromkeys(self.step_metrics + model_step))
        self.steps = steps.CompiledSteps(
            model=self.model, optimizer=self.optimizer, strategy=self.strategy, hparams=self.hparams,
            step=self.step, step_metrics=self.step_metrics, loss_scale=self.loss_scale,
            accumulator=self.accumulator, accumulate_steps=self.accumulate_steps, xla=self.xla)
        self.decode_metrics = list(dict.fromkeys(self.decode_metrics + model_decode))
        if self.decode_metrics:
            self.eval_decode_split = self.eval_decode_split or DatasetSplit.EVAL
            if problem_kind(self.model.problem_hparams) not in (ProblemKind.TEXT2TEXT,
                                                                 ProblemKind.SPEECH_RECOGNITION):
                raise ConfigError(f"decode metrics {', '.join(self.decode_metrics)} need a problem with "
                                  f"inputs and symbol targets; {self.problem.full_name} has neither "
                                  "both: remove them from eval_metrics() (or --eval_decode_split)")
        # Weights, random state (every SeedGenerator: dropout masks, shake-shake draws),
        # optimizer and step: a resumed run continues the uninterrupted one bit for bit.
        self.ckpt = tf.train.Checkpoint(**checkpoints.trackables(self.model, optimizer=self.optimizer,
                                                                 step=self.step))
        if self.loss_scale is not None:
            self.loss_scale.add_to(self.ckpt)
        if self.is_chief:
            self.run_dir.repair_checkpoint_index()
        # Under multi_worker every worker takes part in saving; only the chief writes to
        # output_dir, the others to a scratch folder of their own inside it.
        ckpt_dir = self.output_dir if self.is_chief else os.path.join(
            self.output_dir, f".worker-{self.strategy.cluster_resolver.task_id}")
        self.manager = tf.train.CheckpointManager(self.ckpt, ckpt_dir,
                                                  max_to_keep=self.keep_checkpoint_max)
        self.evaluator = Evaluator(
            problem=self.problem, model=self.model, strategy=self.strategy, eval_step=self.steps.eval_step,
            dataset_fn=lambda problem: self._dataset_fn(Mode.EVAL, problem=problem),
            output_dir=self.output_dir, data_dir=self.data_dir, eval_steps=self.eval_steps,
            step_metrics=self.step_metrics, decode_metrics=self.decode_metrics,
            decode_hparams=self.decode_hparams, eval_decode_split=self.eval_decode_split,
            eval_decode_examples=self.eval_decode_examples, bleu_tokenize=self.bleu_tokenize,
            is_chief=self.is_chief,
            corrupt_message=lambda problem, split, error: self._corrupt_data_message(split, error, problem),
            dashboard={"trial_id": self.run_dir.path, "hparams": self.hparams.values(),
                       "names": {"problem": self.problem.full_name, "model": self.model_name,
                                 "hparams_set": self.hparams_set}})
        self._built = True

    # ----------------------------------------------------------- config files --
    def run_info(self) -> RunInfo:
        return RunInfo(problem=self.problem.full_name, model=self.model_name,
                       hparams_set=self.hparams_set, data_dir=self.data_dir,
                       t2x_usr_dir=self.t2x_usr_dir)

    # --------------------------------------------------------------- schedules --
    def restore(self) -> int:
        """Restores the run's checkpoint, if any; returns its step. The checkpoint is the one
        every reader of the run takes (``RunDir.read_checkpoint``): the newest whole one among
        the index and the files present; an unreadable one (truncated, overwritten) is named
        in a warning and the one before it is read; when none can be read, a RunDirError
        names them (never a silent restart at step 0)."""
        self._build()
        self.restored_path = self.run_dir.read_checkpoint(
            lambda path: self._checkpoint_for(path).restore(path).assert_existing_objects_matched())
        if self.restored_path:
            logging.info("Restored %s (step %d)", self.restored_path, int(self.step.numpy()))
        return int(self.step.numpy())

    def _checkpoint_for(self, path: str) -> tf.train.Checkpoint:
        """The checkpoint object that reads ``path``: the full one, or -- for a checkpoint
        written before t2x saved random state -- one without it (with a warning: such a
        resume continues the run, but not bit for bit)."""
        if not self.ckpt.model_random_state.states or checkpoints.has_random_state(path):
            return self.ckpt
        logging.warning("%s holds no random state (written by an older t2x): resuming with fresh "
                        "random generators, so this run will not equal an uninterrupted one bit for bit",
                        path)
        return tf.train.Checkpoint(**checkpoints.trackables(self.model, optimizer=self.optimizer,
                                                            step=self.step, random_state=False))

    def train(self, eval_fn: Optional[Callable[[], Dict[str, float]]] = None) -> Dict[str, float]:
        """Trains up to ``train_steps`` global steps, from the latest checkpoint if any.

        The chief takes the run directory's lock first (one trainer per run), checks the
        configuration, restores, and only then writes the configuration files. SIGTERM or
        SIGINT saves a checkpoint at the step reached and raises ``Preempted``."""
        if self.is_chief:
            self.run_dir.acquire_lock()  # first: before the model is built or anything written
        try:
            self._build()
            if self.is_chief and not self.allow_config_change:
                self.run_dir.check_config(self.hparams, self.run_info())
            start_step = self.restore()
            if self.warm_start_from and self.restored_path is None:
                from t2x.runs.warm_start import warm_start

                with self.strategy.scope():
                    self.warm_started = warm_start(self.model, self.warm_start_from)
            elif self.warm_start_from:
                logging.warning("resuming from %s (step %d): --warm_start_from=%s not applied (it initialises "
                                "a run that starts at step 0)", os.path.basename(self.restored_path),
                                start_step, self.warm_start_from)
            if self.is_chief:
                self.run_dir.write_config(hparams=self.hparams, info=self.run_info(),
                                          gin_config=gin.config_str(), flags_text=self.flags_text)
            if start_step >= self.train_steps:
                logging.info("Step %d >= --train_steps=%d: training is done, nothing to train",
                             start_step, self.train_steps)
                return {}
            catch = StopSignals() if self.strategy_name != "multi_worker" else contextlib.nullcontext()
            with catch as stop:
                return self._train_loop(start_step, eval_fn, stop)
        finally:
            if self.is_chief:
                self.run_dir.release_lock()
                if self._created_output_dir and os.path.isdir(self.output_dir) and not os.listdir(self.output_dir):
                    os.rmdir(self.output_dir)  # refused before anything was written: leave nothing

    def _train_loop(self, start_step: int, eval_fn, stop) -> Dict[str, float]:
        default = self.strategy_name == "default"
        dist = self.strategy.distribute_datasets_from_function(
            self._dataset_fn(Mode.TRAIN, skip_steps=0 if default else start_step))
        iterator = iter(dist)
        if default:
            iter_ckpt = tf.train.Checkpoint(iterator=iterator)
            self.ckpt.iterator = iterator  # saved with every checkpoint from now on
            if self.restored_path and start_step:
                iter_ckpt.restore(self.restored_path).expect_partial()
        writer = reporting.summary_writer(os.path.join(self.output_dir, "train"), self.is_chief)
        if start_step == 0:
            reporting.write_run_text(writer, hparams_json=self.hparams.to_json(),
                                     gin_config=gin.config_str(), run_info=self.run_info().to_dict())
        progress = reporting.TrainProgress(
            writer, train_steps=self.train_steps, start_step=start_step,
            global_batch_size=self.global_batch_size * self.accumulate_steps, count_tokens=self.problem.variable_length,
            learning_rate_fn=self.lr_fn)
        step, metrics = start_step, {}
        while step < self.train_steps:
            try:
                out = self.steps.train_step(iterator)
            except tf.errors.DataLossError as e:
                raise DataError(self._corrupt_data_message(DatasetSplit.TRAIN, e)) from None
            if not bool(out["finite"].numpy()):
                kept = self.manager.latest_checkpoint or "none yet"
                raise TrainingError(
                    f"loss is {float(out['loss'].numpy())} (grad norm {float(out['grad_norm'].numpy())}) "
                    f"at step {step + 1}; stopped without applying it. Last good checkpoint: {kept}. "
                    "Lower the learning rate (--hparams=learning_rate=...) or check the data")
            if self.loss_scale is not None and bool(out["overflow"].numpy()):
                logging.info("step %d: float16 gradients overflowed; update skipped, loss scale now %g",
                             step + 1, float(self.loss_scale.scale.numpy()))
            step += 1
            progress.add_tokens(float(out["tokens"].numpy()) if self.problem.variable_length else 0.0)
            if step == start_step + 1 and self.num_summary_images and start_step == 0:
                self._write_image_summary(writer)
            if step % self.log_every == 0 or step == self.train_steps:
                metrics = progress.report(step, float(out["loss"].numpy()), float(out["grad_norm"].numpy()))
            if step % self.save_checkpoints_steps == 0 or step == self.train_steps:
                self._save(step)
            if eval_fn is not None and (step % self.eval_every == 0 and step < self.train_steps):
                self._save_at(step)
                eval_fn()
                if self.stopped_early:
                    break
            if stop is not None and stop.requested:
                progress.finished(step, start_step)
                raise Preempted(stop.message(step, self._save_at(step)), exit_code=stop.exit_code)
        progress.finished(step, start_step)
        return metrics

    def evaluate(self) -> Dict[str, float]:
        """Evaluates the current weights (``t2x.training.evaluator``: up to ``eval_steps``
        dev batches of the problem and of each of its ``eval_problems``, then the decode
        metrics); writes eval/ summaries and the HParams-dashboard row; returns
        ``{"loss": ..., <metric>: ..., "<child>/<metric>": ..., "eval_batches": n}``."""
        self._build()
        if not self.manager.latest_checkpoint and int(self.step.numpy()) == 0:
            logging.warning("No checkpoint in %s: evaluating freshly initialised weights", self.output_dir)
        logging.info("evaluating at step %d", int(self.step.numpy()))
        self.last_eval = self.evaluator.evaluate(int(self.step.numpy()))
        return self.last_eval

    def train_and_evaluate(self) -> Dict[str, float]:
        """Trains, evaluating every ``eval_every`` steps and at the end (or until early
        stopping ends training: that evaluation is the last)."""
        stopped = self.selection.stopped() if self.selection else None
        if stopped:
            logging.info("this run stopped early at step %s (eval/%s has not improved since step %s): "
                         "nothing to train; raise --early_stopping_patience to go on",
                         stopped["last_step"], self.selection.name, stopped["best_step"])
            self.restore()
            return self.evaluate()
        self.train(eval_fn=self._evaluate_and_select)
        if self.stopped_early:
            return self.last_eval
        return self._evaluate_and_select()

    def _evaluate_and_select(self) -> Dict[str, float]:
        """An evaluation during training: the eval callbacks, then model selection
        (``t2x.training.selection``)."""
        metrics = self.evaluate()
        step = int(self.step.numpy())
        for callback in self.eval_callbacks:
            callback(step, metrics)
        if self.selection:
            self.stopped_early = self.selection.update(step, metrics, self._save_at)
        return metrics

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
            raise ConfigError(f"--schedule={schedule!r} is not one of {', '.join(schedules)}")
        return schedules[schedule]()

    def _corrupt_data_message(self, split: str, error: Exception, problem=None) -> str:
        """One line naming the corrupt shard(s) of ``split`` (each checked against its
        sidecar to find them) and the command that rewrites exactly them: the user dir
        when the problem is the user's, the seed the split's shards were written with."""
        from t2x.data.generator_utils import data_seed, corrupt_shards

        problem = problem or self.problem
        paths = problem.data_filepaths(self.data_dir, split)
        bad = corrupt_shards(paths)
        what = "; ".join(bad) if bad else f"a record of the {split} split ({str(error).strip().splitlines()[0]})"
        command = f"t2x-datagen --problem={problem.full_name} --data_dir={self.data_dir}"
        if self.t2x_usr_dir:
            command += f" --t2x_usr_dir={self.t2x_usr_dir}"
        seed = data_seed(paths)
        if seed is not None:
            command += f" --random_seed={seed}"
        return f"corrupt data: {what}; `{command}` rewrites corrupt shards (raw files in --tmp_dir)"

    def _save_at(self, step: int) -> str:
        """The checkpoint of ``step``: saved now unless it is the latest already."""
        latest = self.manager.latest_checkpoint
        if latest is None or not latest.endswith(f"-{step}"):
            latest = self._save(step)
        return latest

    def _save(self, step: int) -> str:
        """Saves the checkpoint of ``step``; a full disk or a read-only output_dir is a
        one-line error naming the directory (the previous checkpoints are kept)."""
        try:
            return self.manager.save(checkpoint_number=step)
        except OSError as e:
            raise unwritable(self.output_dir, e) from None
        except (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError,
                tf.errors.FailedPreconditionError) as e:
            raise unwritable(self.output_dir, OSError(first_line(e))) from None

    def _restore_and_evaluate(self) -> Dict[str, float]:
        self.restore()
        if self.restored_path is None:
            raise TrainingError(f"--schedule=evaluate found no checkpoint in {self.output_dir}: "
                                "train first (--schedule=train_and_evaluate), or point --output_dir at a run")
        return self.evaluate()

    def _write_image_summary(self, writer) -> None:
        """A few training inputs as train/ images (image problems; read from the train split);
        speech problems: their recordings as audio and their log-mel spectrograms as images."""
        if self.model.problem_hparams.modality.get("inputs") == "speech":
            records = self.problem.read(Mode.TRAIN, self.data_dir, shuffle_files=False, shuffle_buffer_size=1,
                                        repeat=False, parse_batch_size=self.num_summary_images, deterministic=True)
            reporting.write_speech_examples(writer, next(iter(records)), self.problem, self.hparams,
                                            self.num_summary_images)
            return
        if self.model.problem_hparams.modality.get("inputs") != "image":
            return
        batch = next(iter(self.problem.dataset(Mode.TRAIN, self.data_dir, self.hparams,
                                               batch_size=self.num_summary_images, seed=self.random_seed,
                                               deterministic=True)))
        reporting.write_input_images(writer, batch["inputs"], self.num_summary_images)
