"""``T2XModel``: bottom -> body -> top -> loss, the T2T model contract on a ``keras.Model``.

A subclass writes only ``body``::

    @registry.register_model
    class MyNet(T2XModel):
        def build_body(self):            # optional: create layers once
            self.dense = keras.layers.Dense(self.hparams.hidden_size, activation="relu")

        def body(self, features):
            return self.dense(features["inputs"])

``call(features, training)`` runs, inside the compiled step:

1. ``bottom``: each feature through its modality (``inputs`` -> ``bottom``,
   ``targets`` -> ``targets_bottom``), giving the body float tensors (shapes in
   ``t2x.modalities``);
2. ``body(features)``: the transformed features -> the body output (for images
   ``[B, H', W', D]``, for sequences ``[B, L, D]``);
3. ``top``: the body output through the targets' modality -> logits.

``loss_fn(logits, features)`` is T2T's ``loss`` (Keras 3 reserves ``Model.loss``): the
targets' modality loss, label-smoothed in training, as ``(numerator, denominator)`` so that
distributed replicas add up exactly. ``infer(features)`` predicts: for a classification
problem ``{"outputs": class ids [B, 1], "probabilities": [B, 1, vocab]}``; for symbol
targets it decodes token by token (greedy, sampling, beam search: ``t2x.decoding``),
through a model's cached ``fast_decode_fn`` when it has one.

Outside training every hparam whose name ends in ``dropout`` and ``label_smoothing`` read
0: ``self.hparams`` is the training set inside ``call(training=True)`` and the eval set
otherwise, so a body reads its rates from ``self.hparams`` and gets the right ones.
"""

import contextlib
from typing import Any, Dict, List, Optional

import keras
import tensorflow as tf

from t2x import decoding
from t2x.data.problem import Mode, ModalityType
from t2x.hparam import HParams, check_implemented, check_packed_batch, check_ranges
from t2x.modalities import Modality, create_modality


def eval_hparams(hparams: HParams) -> HParams:
    """A copy with every ``*dropout`` hparam and ``label_smoothing`` set to 0."""
    hp = hparams.copy()
    for key in hp.keys():
        value = hp.get(key)
        if (key.endswith("dropout") or key == "label_smoothing") and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            hp.set_hparam(key, type(value)(0))
    return hp


class T2XModel(keras.Model):
    """Base of every registered model. Subclasses implement ``body`` (and may override
    ``bottom``, ``top``, ``loss_fn``, ``infer``)."""

    # True for a body that reads packed batches (``hparams.packed``): ``<feature>_segmentation``
    # and ``<feature>_position`` ``[B, L]`` int32 next to ``inputs``/``targets``, and keeps
    # the examples of a row apart (attention masked across segments, positions restarting).
    supports_packed = False

    def __init__(self, hparams: HParams, problem_hparams: HParams, **kwargs):
        name = kwargs.pop("name", None) or type(self).__dict__.get("registered_name") \
            or type(self).__name__.lower()
        super().__init__(name=name, **kwargs)
        self._train_hparams = hparams
        self._eval_hparams = eval_hparams(hparams)
        self._training = True  # build_body sees the training hparams (dropout rates...)
        self.problem_hparams = problem_hparams
        self.modalities: Dict[str, Modality] = _create_modalities(hparams, problem_hparams)
        self.build_body()
        self._training = False

    def build(self, input_shape=None):
        """Nothing to do: the body's layers build on the first call (Keras 3 hook)."""
        self.built = True

    # -- hparams by mode ------------------------------------------------------------
    @property
    def hparams(self) -> HParams:
        """The training hparams inside ``call(training=True)``, the eval ones otherwise."""
        return self._train_hparams if self._training else self._eval_hparams

    @property
    def train_hparams(self) -> HParams:
        return self._train_hparams

    # -- hooks ------------------------------------------------------------------------
    def build_body(self) -> None:
        """Host, once, in ``__init__``: create the body's layers. ``self.hparams`` is the
        training set here (dropout rates as given). Default: nothing."""

    def bottom(self, features: Dict[str, Any]) -> Dict[str, Any]:
        """Compiled step: raw features -> body inputs (only features with a modality). A
        class-label problem's ``targets`` may be absent (prediction): the body then gets
        the label's embedding of a ``[B, 1]`` placeholder, as in training."""
        out = dict(features)
        for name, modality in self.modalities.items():
            if name not in features:
                continue
            out[name] = (modality.targets_bottom(features[name]) if name == "targets"
                         else modality.bottom(features[name]))
        targets = self.modalities.get("targets")
        if "targets" not in features and "inputs" in features and targets is not None \
                and targets.modality_type == ModalityType.CLASS_LABEL:
            # A classifier classifies from its inputs alone: a class label's targets_bottom
            # reads only the label's shape [B, 1] (its values never reach the body), so a
            # body that reads "targets" (a decoder's one query position) gets at inference
            # the tensor it gets in training and eval.
            out["targets"] = targets.targets_bottom(tf.zeros([tf.shape(features["inputs"])[0], 1], tf.int64))
        return out

    def body(self, features: Dict[str, Any]):
        """Compiled step: transformed features -> body output. See the module docstring."""
        raise NotImplementedError(f"{type(self).__name__} must implement body(features)")

    def eval_metrics(self) -> List[str]:
        """Host: names of metrics (``t2x.metrics``) this model adds to its problem's
        ``eval_metrics()``; register a new one with ``t2x.metrics.register_step_metric``.
        Default: none."""
        return []

    def step_sums(self, features: Dict[str, Any]) -> Dict[str, Any]:
        """Compiled eval step, after the call on ``features``: sums this model adds to the
        batch's (e.g. the universal transformer's ponder cost), read by the metrics its
        ``eval_metrics`` names; they add up over batches and replicas. Default: none."""
        del features
        return {}

    def top(self, body_output, features: Dict[str, Any]):
        """Compiled step: body output -> logits, through the targets' modality."""
        del features
        return self.modalities["targets"].top(body_output)

    def call(self, features: Dict[str, Any], training: bool = False):
        self._training = bool(training)
        try:
            transformed = self.bottom(features)
            body_output = self.body(transformed)
            logits = self.top(body_output, features)
            # Mixed precision: softmax, losses and metrics read float32 logits.
            return tf.cast(logits, tf.float32) if logits.dtype in (tf.bfloat16, tf.float16) else logits
        finally:
            self._training = False

    def loss_fn(self, logits, features: Dict[str, Any], training: bool = True):
        """Compiled step: ``(numerator, denominator)`` of the mean targets loss, times the
        problem's ``loss_multiplier``; label smoothing only in training."""
        smoothing = self._train_hparams.get("label_smoothing", 0.0) if training else 0.0
        num, den = self.modalities["targets"].loss(logits, features["targets"], smoothing)
        return num * self.problem_hparams.get("loss_multiplier", 1.0), den

    def infer(self, features: Dict[str, Any], *, decode_length: Optional[int] = None,
              extra_length: int = 50, beam_size: int = 1, top_beams: int = 1, alpha: float = 0.6,
              sampling_method: Optional[str] = None, temperature: Optional[float] = None, top_k: int = 0,
              use_cache: bool = True, seed: Optional[int] = None) -> Dict[str, Any]:
        """Predictions in eval mode (T2T's ``infer``). Call it inside a ``tf.function``.

        Symbol (sequence) targets are decoded token by token (``t2x.decoding``): greedy
        (``beam_size=1``, ``sampling_method="argmax"``), sampled (``"random"``,
        ``temperature``, ``top_k``; ``sampling_method`` and ``temperature`` default to the
        hparams' ``sampling_method`` and ``sampling_temp``, T2T's) or beam search (``beam_size > 1``, GNMT length penalty
        ``alpha``), stopping at EOS, for at most ``decode_length`` tokens (default: the
        inputs' length + ``extra_length``, or ``extra_length`` without inputs; an example
        that reaches its own input length + ``extra_length`` gets EOS). With
        ``use_cache`` a model's ``fast_decode_fn`` (the Transformer's key/value cache) is
        used when it has one; otherwise, or with ``use_cache=False``, the whole model re-runs
        on the tokens so far at every step (the slow path, any model).
        A model without inputs decodes ``{"batch_size": N}`` from nothing, or continues
        ``{"prompt": ids [N, P]}`` (0-padded, no EOS): the prompt's ids are forced, then
        decoding is free for ``extra_length`` more tokens, and ``outputs`` hold the
        continuation only.
        Returns ``outputs`` ``[B, decode_length]`` int32 (``[B, top_beams, decode_length]``
        when ``top_beams > 1``; EOS kept, zeros after) and ``scores`` ``[B]`` (``[B,
        top_beams]``): log-probabilities (beam search: length-penalised).

        Image generation (pixel targets, ``image_channel_embeddings``): sub-pixel by
        sub-pixel sampling, ``t2x.decoding.decode_images`` (``{"inputs": labels [N, 1]}`` or
        ``{"batch_size": N}`` in, ``outputs`` ``[N, H, W, C]`` out).

        Other targets (class labels, images): one pass; ``outputs`` are the argmax ids,
        with ``probabilities`` and ``logits``.
        """
        if self.modalities["targets"].modality_type == ModalityType.IMAGE_CHANNEL_EMBEDDINGS:
            return decoding.decode_images(
                self, features, sampling_method=sampling_method or self._train_hparams.get("sampling_method", "random"),
                temperature=self._train_hparams.get("sampling_temp", 1.0) if temperature is None else temperature,
                top_k=top_k, use_cache=use_cache, seed=seed)
        if self.modalities["targets"].modality_type != ModalityType.SYMBOL:
            logits = self(features, training=False)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
            return {"outputs": tf.argmax(logits, axis=-1), "probabilities": probabilities,
                    "logits": logits}
        if sampling_method is None:
            sampling_method = self._train_hparams.get("sampling_method", "argmax")
        if temperature is None:
            temperature = self._train_hparams.get("sampling_temp", 1.0)
        return decoding.decode_sequences(
            self, features, decode_length=decode_length, extra_length=extra_length, beam_size=beam_size,
            top_beams=top_beams, alpha=alpha, sampling_method=sampling_method, temperature=temperature,
            top_k=top_k, use_cache=use_cache, seed=seed)

    def slow_decode_fn(self, features: Dict[str, Any], num_beams: int):
        """The decoding step of any model: ``(symbols_to_logits_fn, cache)`` that re-runs
        the whole model (teacher-forced, eval mode) on the ids so far and reads the logits
        at position ``i``. Correct for every model whose output at a position depends only
        on the targets before it (all autoregressive bodies). ``features`` are repeated
        ``num_beams`` times for beam search."""
        tiled = {k: decoding.expand_to_beams(v, num_beams) if num_beams > 1 else v
                 for k, v in features.items()}

        def symbols_to_logits_fn(ids, i, cache):
            logits = self(dict(tiled, targets=ids), training=False)
            return logits[:, i, :], cache

        return symbols_to_logits_fn, {}

    def fast_decode_fn(self, features: Dict[str, Any], batch_size, decode_length, num_beams: int):
        """A model's cached decoding step, or None (the default: use ``slow_decode_fn``).

        Returns ``(symbols_to_logits_fn, cache)`` as ``t2x.decoding`` expects: the cache's
        tensors with leading dimension ``batch * num_beams`` and fixed shapes (preallocated
        to ``decode_length``); given the same weights it must produce the logits of
        ``slow_decode_fn``."""
        del features, batch_size, decode_length, num_beams
        return None


def tf_variables(variables) -> List[Any]:
    """The ``tf.Variable`` behind each Keras variable: what ``tf.Module`` tracks and
    ``tf.train.Checkpoint``/``tf.saved_model`` save."""
    return [v.value if hasattr(v, "value") else v for v in variables]


def checkpoint_weights(model: keras.Model):
    """A trackable of every weight of ``model`` (trainable or not: batch-norm statistics
    too), in ``model.weights`` order: what t2x checkpoints store under ``model_weights``.

    Keras 3 does not expose layers kept in lists or dicts (a Transformer's blocks, the
    modalities) to ``tf.train.Checkpoint``; saving the model object alone would silently
    skip them. Restoring checks every shape."""
    module = tf.Module()
    module.weights = tf_variables(model.weights)
    return module


def random_state_variables(model: keras.Model) -> List[Any]:
    """The variables of ``model`` that are not weights: the states of its Keras
    ``SeedGenerator``s (every ``Dropout``'s, shake-shake's draws...), in a fixed order."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def checkpoint_random_state(model: keras.Model):
    """A trackable of the model's random state (``random_state_variables``), what t2x
    checkpoints store under ``model_random_state``: restored, the next dropout mask or
    shake-shake draw is the one an uninterrupted run would have drawn."""
    module = tf.Module()
    module.states = tf_variables(random_state_variables(model))
    return module


def _create_modalities(hparams: HParams, problem_hparams: HParams) -> Dict[str, Modality]:
    """One modality layer per feature. With ``shared_embedding`` (default True) the symbol
    features of one vocabulary size share one layer, hence one embedding matrix (T2T named
    its symbol modality variables by vocabulary size, so inputs and targets of a shared
    vocabulary shared them); ``shared_embedding_and_softmax_weights`` then ties the softmax
    to it too."""
    overrides = dict(hparams.get("modality") or {})
    share = bool(hparams.get("shared_embedding", True))
    modalities: Dict[str, Modality] = {}
    by_vocab: Dict[Any, Modality] = {}
    features = sorted(problem_hparams.modality, key=lambda f: f != "targets")  # targets first
    for feature in features:
        modality_type = overrides.get(feature, problem_hparams.modality[feature])
        vocab_size = problem_hparams.vocab_size.get(feature)
        key = (modality_type, vocab_size)
        if share and modality_type == ModalityType.SYMBOL and key in by_vocab:
            modalities[feature] = by_vocab[key]
            continue
        modalities[feature] = create_modality(modality_type, hparams, vocab_size, feature)
        by_vocab[key] = modalities[feature]
    # Keep the problem's feature order (inputs before targets) for readers of the dict.
    return {feature: modalities[feature] for feature in problem_hparams.modality}


MIXED_PRECISION_POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def dtype_policy_name(hparams: HParams) -> Optional[str]:
    """The Keras mixed-precision policy of ``hparams.activation_dtype`` (T2T's hparam):
    ``"mixed_bfloat16"``, ``"mixed_float16"``, or None for float32. Weights stay float32
    either way; softmax, losses and metrics are computed in float32."""
    from t2x.hparam import HParamsError

    dtype = hparams.get("activation_dtype", "float32") or "float32"
    if dtype not in MIXED_PRECISION_POLICIES:
        raise HParamsError(f"activation_dtype={dtype!r} is not supported; use one of "
                           f"{', '.join(MIXED_PRECISION_POLICIES)}")
    return MIXED_PRECISION_POLICIES[dtype]


@contextlib.contextmanager
def dtype_policy(name: Optional[str]):
    """Layers constructed inside take the Keras dtype policy ``name`` (None: unchanged);
    the global policy is restored on exit, so one model's policy never leaks to another."""
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def model_for(model_name: str, hparams: HParams, problem_hparams: HParams) -> T2XModel:
    """The registered model ``model_name`` for a problem's hparams, not yet built (its
    variables come with the first call). Refuses hparams t2x does not implement."""
    from t2x import registry  # floor 1, imported late: registry loads the catalogue lazily

    check_model_hparams(model_name, hparams)
    with dtype_policy(dtype_policy_name(hparams)):
        return registry.model(model_name)(hparams, problem_hparams)


def check_model_hparams(model_name: str, hparams: HParams) -> None:
    """Host, before anything is built or written: refuses hparams the model cannot honour
    (T2T-only keys, an unknown ``activation_dtype``, ``packed`` for a model that does not
    read packed batches), each with a line naming the fix."""
    from t2x import registry
    from t2x.errors import ConfigError

    check_implemented(hparams)
    check_ranges(hparams)
    dtype_policy_name(hparams)
    if hparams.get("packed", False) and not registry.model(model_name).supports_packed:
        readers = sorted(name for name in registry.list_models() if registry.model(name).supports_packed)
        raise ConfigError(f"model {model_name} does not read packed batches (packed=true would mix the "
                          f"examples of a row): remove packed from --hparams, or use "
                          f"{' or '.join(readers)}")
    if hparams.get("prepend_mode", "none") not in ("none", None) and \
            not getattr(registry.model(model_name), "reads_prepend_mode", False):
        raise ConfigError(f"model {model_name} does not read prepend_mode={hparams.get('prepend_mode')!r} "
                          "(T2T's transformer with a transformer_prepend set): use --model=transformer_prepend")
    check_packed_batch(hparams)


def build_variables(model: T2XModel, element_spec: Dict[str, tf.TensorSpec]) -> T2XModel:
    """Creates the model's variables with one eval-mode call on a zero batch of one example
    shaped like ``element_spec`` (unknown dimensions as 1)."""
    dummy = {k: tf.zeros([1] + [d or 1 for d in s.shape.as_list()], s.dtype) for k, s in element_spec.items()}
    model(dummy, training=False)
    return model


def create_model(problem, model_name: str, hparams: HParams, data_dir: Optional[str], *,
                 element_spec: Optional[Dict[str, tf.TensorSpec]] = None) -> T2XModel:
    """The one path from names to a built model (trainer, decoder, checkpoint averaging,
    exporter; model tests use its first step, ``model_for``).

    ``model_for`` with the problem hparams of ``data_dir`` (where the vocabularies are),
    then ``build_variables`` on ``element_spec`` (one example's ``{feature: TensorSpec}``;
    default ``problem.element_spec(Mode.TRAIN, hparams)``, the training pipeline's features,
    for which no data file is opened). Call it inside a distribution strategy's scope to
    place the variables there.
    """
    model = model_for(model_name, hparams, problem.get_hparams(hparams, data_dir=data_dir))
    spec = element_spec if element_spec is not None else problem.element_spec(Mode.TRAIN, hparams)
    return build_variables(model, spec)
