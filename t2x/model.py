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
problem ``{"outputs": class ids [B, 1], "probabilities": [B, 1, vocab]}``.

Outside training every hparam whose name ends in ``dropout`` and ``label_smoothing`` read
0: ``self.hparams`` is the training set inside ``call(training=True)`` and the eval set
otherwise, so a body reads its rates from ``self.hparams`` and gets the right ones.
"""

from typing import Any, Dict

import keras
import tensorflow as tf

from t2x.hparam import HParams
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

    def __init__(self, hparams: HParams, problem_hparams: HParams, **kwargs):
        name = kwargs.pop("name", None) or type(self).__dict__.get("registered_name") \
            or type(self).__name__.lower()
        super().__init__(name=name, **kwargs)
        self._train_hparams = hparams
        self._eval_hparams = eval_hparams(hparams)
        self._training = True  # build_body sees the training hparams (dropout rates...)
        self.problem_hparams = problem_hparams
        overrides = dict(hparams.get("modality") or {})
        self.modalities: Dict[str, Modality] = {}
        for feature, modality_type in problem_hparams.modality.items():
            self.modalities[feature] = create_modality(
                overrides.get(feature, modality_type), hparams,
                problem_hparams.vocab_size.get(feature), feature)
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
        """Compiled step: raw features -> body inputs (only features with a modality)."""
        out = dict(features)
        for name, modality in self.modalities.items():
            if name not in features:
                continue
            out[name] = (modality.targets_bottom(features[name]) if name == "targets"
                         else modality.bottom(features[name]))
        return out

    def body(self, features: Dict[str, Any]):
        """Compiled step: transformed features -> body output. See the module docstring."""
        raise NotImplementedError(f"{type(self).__name__} must implement body(features)")

    def top(self, body_output, features: Dict[str, Any]):
        """Compiled step: body output -> logits, through the targets' modality."""
        del features
        return self.modalities["targets"].top(body_output)

    def call(self, features: Dict[str, Any], training: bool = False):
        self._training = bool(training)
        try:
            transformed = self.bottom(features)
            body_output = self.body(transformed)
            return self.top(body_output, features)
        finally:
            self._training = False

    def loss_fn(self, logits, features: Dict[str, Any], training: bool = True):
        """Compiled step: ``(numerator, denominator)`` of the mean targets loss, times the
        problem's ``loss_multiplier``; label smoothing only in training."""
        smoothing = self._train_hparams.get("label_smoothing", 0.0) if training else 0.0
        num, den = self.modalities["targets"].loss(logits, features["targets"], smoothing)
        return num * self.problem_hparams.get("loss_multiplier", 1.0), den

    def infer(self, features: Dict[str, Any]) -> Dict[str, Any]:
        """Predictions in eval mode: ``outputs`` (argmax ids) and ``probabilities``."""
        logits = self(features, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {"outputs": tf.argmax(logits, axis=-1), "probabilities": probabilities,
                "logits": logits}


def model_for(model_name: str, hparams: HParams, problem_hparams: HParams) -> T2XModel:
    """Builds the registered model ``model_name`` for a problem's hparams."""
    from t2x import registry  # floor 1, imported late: registry loads the catalogue lazily

    return registry.model(model_name)(hparams, problem_hparams)
