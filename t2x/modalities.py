"""Modalities: how each feature enters and leaves a model (T2T semantics).

A modality is a Keras layer with four hooks, all run inside the compiled step:

* ``bottom(x)``: a raw feature -> the body's input. ``targets_bottom(x)`` is the same for
  the targets (teacher forcing); by default it is ``bottom``.
* ``top(body_output)``: the body's output -> logits (or predictions for ``real``).
* ``loss(logits, targets)``: ``(numerator, denominator)`` of the mean loss, weighted by
  ``targets_weights(targets)`` (T2T's ``weights_fn``; ``weights`` is Keras's) and with ``label_smoothing`` where the loss is a cross entropy.

Which modality a feature gets comes from the problem's ``feature_info`` (``hparams.modality``
of the problem) and can be overridden per feature by the model hparams ``modality``
dict, e.g. ``hparams.modality = {"targets": "real"}`` (T2T's override).

Shapes (B = batch):

=============  ==========================  ==========================  ======================
modality       feature in                  bottom out                  top out
=============  ==========================  ==========================  ======================
symbol         ids ``[B, L]`` int          ``[B, L, hidden_size]``     ``[B, L, vocab]``
class_label    ids ``[B, 1]`` int          ``[B, 1, hidden_size]``     ``[B, 1, vocab]``
image          pixels ``[B, H, W, C]``     float32, same shape         ``[B, H, W, C, 256]``
image_channel_ pixel ids ``[B, H, W, C]``  ``[B, H, W, C, hidden]``   ``[B, H, W, C, 256]``
embeddings
real           ``[B, ..., D_in]`` float    ``[B, ..., hidden_size]``   ``[B, ..., vocab]``
identity       anything                    float32, same               body output as is
speech         ``[B, T, bins, C]`` float   ``[B, ceil(T/4), hidden]``  (inputs only)
=============  ==========================  ==========================  ======================

``class_label``'s top mean-pools every axis of the body output between the batch and the
last, so a body may return ``[B, H, W, D]`` or ``[B, L, D]`` or ``[B, D]``.

Modalities are registered like problems and models, so a new feature type is a new file
(in t2x or in a ``--t2x_usr_dir``), with no edit here::

    @register_modality("unit_vector")
    class UnitVectorModality(Modality):
        def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
            super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
            self.dense = keras.layers.Dense(model_hparams.hidden_size)

        def bottom(self, x):
            return self.dense(tf.math.l2_normalize(tf.cast(x, self.compute_dtype), -1))

and a problem names it: ``defaults.modality = {"inputs": "unit_vector", ...}``. A misspelt
name is an error naming the closest registered ones; a name registered twice names its owner.
"""

from typing import Optional

import keras
import tensorflow as tf

from t2x.data.problem import ModalityType
from t2x.registry import modality as modality_class
from t2x.registry import RegistryError, register_modality


def smoothed_cross_entropy(logits, labels, vocab_size: int, label_smoothing: float):
    """Per-position cross entropy with T2T's label smoothing: the true class gets
    ``1 - label_smoothing``, the others share ``label_smoothing`` evenly. Returns float32
    with the shape of ``labels``."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    if label_smoothing:
        confidence = 1.0 - label_smoothing
        low = label_smoothing / float(vocab_size - 1)
        soft = tf.one_hot(labels, vocab_size, on_value=confidence, off_value=low)
        return tf.nn.softmax_cross_entropy_with_logits(labels=soft, logits=logits)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


class Modality(keras.layers.Layer):
    """Base: identity bottom/top, cross-entropy loss, every position weighted 1.

    Subclass and register (``@register_modality("name")``); override what differs. Each hook
    runs inside the compiled step. ``model_hparams`` are the model's hparams,
    ``vocab_size`` the problem's ``vocab_size`` for the feature (None when it has none),
    ``feature_name`` "inputs" or "targets"."""

    modality_type = ModalityType.IDENTITY

    def __init__(self, model_hparams, vocab_size: Optional[int], feature_name: str, **kwargs):
        super().__init__(name=f"{feature_name}_{self.modality_type}_modality", **kwargs)
        self.model_hparams = model_hparams
        self.vocab_size = vocab_size
        self.feature_name = feature_name

    def bottom(self, x):
        return tf.cast(x, self.compute_dtype)

    def targets_bottom(self, x):
        return self.bottom(x)

    def top(self, body_output):
        return body_output

    def targets_weights(self, targets):
        """Per-position loss weights, shape of ``targets`` (float32)."""
        return tf.ones(tf.shape(targets), tf.float32)

    def loss(self, logits, targets, label_smoothing: float = 0.0):
        """``(sum of weighted losses, sum of weights)``; the mean loss is their ratio."""
        xent = smoothed_cross_entropy(logits, targets, self.vocab_size, label_smoothing)
        weights = self.targets_weights(targets)
        return tf.reduce_sum(xent * weights), tf.reduce_sum(weights)


@register_modality(ModalityType.IDENTITY)
class IdentityModality(Modality):
    """The feature as it is (cast to the compute dtype); the body's output as the logits."""


@register_modality(ModalityType.SYMBOL)
class SymbolModality(Modality):
    """Token ids: an embedding (scaled by sqrt(hidden_size), id 0 embeds to zeros) in, a
    softmax over the vocabulary out, optionally sharing one weight matrix; padding (id 0)
    weighs 0 in the loss."""

    def build(self, input_shape=None):
        hidden = self.model_hparams.hidden_size
        self.embedding = self.add_weight(
            name="weights", shape=(self.vocab_size, hidden),
            initializer=keras.initializers.RandomNormal(stddev=hidden ** -0.5))
        if self.feature_name == "inputs":
            self.softmax_weights = None  # an inputs-only modality has no top
        elif not self.model_hparams.get("shared_embedding_and_softmax_weights", False):
            self.softmax_weights = self.add_weight(
                name="softmax_weights", shape=(self.vocab_size, hidden),
                initializer=keras.initializers.RandomNormal(stddev=hidden ** -0.5))
        else:
            self.softmax_weights = self.embedding
        self.built = True

    def bottom(self, x):
        if not self.built:
            self.build()
        ids = tf.cast(x, tf.int32)
        emb = tf.gather(tf.cast(self.embedding, self.compute_dtype), ids)
        emb *= tf.cast(self.model_hparams.hidden_size ** 0.5, self.compute_dtype)
        return emb * tf.cast(tf.not_equal(ids, 0), self.compute_dtype)[..., None]

    def top(self, body_output):
        if not self.built:
            self.build()
        w = tf.cast(self.softmax_weights, body_output.dtype)
        # A 2-D matmul, not einsum("...d,vd->...v"): oneDNN's einsum gradient materialised a
        # [vocab, depth, B, L] tensor (11.8 GiB for an 8k vocabulary at batch 90x17).
        shape = tf.shape(body_output)
        logits = tf.matmul(tf.reshape(body_output, [-1, shape[-1]]), w, transpose_b=True)
        return tf.reshape(logits, tf.concat([shape[:-1], [self.vocab_size]], 0))

    def targets_weights(self, targets):
        return tf.cast(tf.not_equal(targets, 0), tf.float32)


@register_modality(ModalityType.CLASS_LABEL)
class ClassLabelModality(Modality):
    """One class id per example: an embedding in; mean-pooled body output -> dense logits out."""

    def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
        super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
        self.embedding = keras.layers.Embedding(vocab_size, model_hparams.hidden_size, name="embedding")
        self.logits_dense = keras.layers.Dense(vocab_size, name="logits")

    def bottom(self, x):
        return self.embedding(tf.cast(x, tf.int32))

    def targets_bottom(self, x):
        return tf.zeros(tf.concat([tf.shape(x), [self.model_hparams.hidden_size]], 0), self.compute_dtype)

    def top(self, body_output):
        rank = body_output.shape.rank
        pooled = tf.reduce_mean(body_output, axis=list(range(1, rank - 1))) if rank > 2 else body_output
        return self.logits_dense(pooled)[:, None, :]  # [B, 1, vocab], like targets [B, 1]


@register_modality(ModalityType.IMAGE)
class ImageModality(Modality):
    """Pixels: cast to float in (the problem standardizes); 256-way logits per channel out."""

    def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
        super().__init__(model_hparams, vocab_size or 256, feature_name, **kwargs)
        self.channels = None
        self.logits_dense = None

    def top(self, body_output):
        # For image targets (a _rev problem): [B, H, W, D] -> [B, H, W, C, 256].
        if self.logits_dense is None:
            self.channels = self.model_hparams.get("num_channels", 1) or 1
            self.logits_dense = keras.layers.Dense(self.channels * self.vocab_size, name="logits")
        logits = self.logits_dense(body_output)
        shape = tf.concat([tf.shape(body_output)[:-1], [self.channels, self.vocab_size]], 0)
        return tf.reshape(logits, shape)


@register_modality(ModalityType.IMAGE_CHANNEL_EMBEDDINGS)
class ImageChannelEmbeddingsModality(Modality):
    """Pixels as 0..255 symbols, one position per sub-pixel (T2T's
    ``image_channel_embeddings_bottom`` and a 256-way softmax top): image generation targets.

    ``targets_bottom``: ids ``[B, H, W, C]`` -> ``[B, H, W, C, hidden]``, each value embedded
    by its channel's own table (one ``[256 * C, hidden]`` matrix, row ``value + 256 * c``,
    times ``sqrt(hidden)``; value 0 is a real black pixel, not padding). ``top``: ``[B, ...,
    hidden]`` -> ``[B, ..., 256]`` logits. Every position weighs 1 in the loss. ``C`` is the
    problem's ``image_shape[-1]``."""

    def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
        super().__init__(model_hparams, vocab_size or 256, feature_name, **kwargs)
        self.logits_dense = keras.layers.Dense(self.vocab_size, name="logits")
        self.channels = None

    def build(self, input_shape=None):
        self.channels = int(input_shape[-1]) if input_shape is not None and len(input_shape) == 4 else 1
        hidden = self.model_hparams.hidden_size
        self.embedding = self.add_weight(
            name="channel_embeddings", shape=(self.vocab_size * self.channels, hidden),
            initializer=keras.initializers.RandomNormal(stddev=hidden ** -0.5))
        self.built = True

    def embed(self, values, channel):
        """``values`` (any shape, int) of sub-pixels of ``channel`` (broadcastable int) ->
        ``values.shape + [hidden]``: the cached decoder embeds one sub-pixel at a time."""
        ids = tf.cast(values, tf.int32) + tf.cast(channel, tf.int32) * self.vocab_size
        emb = tf.gather(tf.cast(self.embedding, self.compute_dtype), ids)
        return emb * tf.cast(self.model_hparams.hidden_size ** 0.5, self.compute_dtype)

    def bottom(self, x):
        if not self.built:
            self.build(x.shape)
        return self.embed(x, tf.range(tf.shape(x)[-1]))

    def top(self, body_output):
        return self.logits_dense(body_output)


@register_modality(ModalityType.REAL)
class RealModality(Modality):
    """Real vectors: dense to hidden_size in, dense to ``vocab_size`` outputs, L2 loss."""

    def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
        super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
        self.bottom_dense = keras.layers.Dense(model_hparams.hidden_size, name="bottom")
        self.top_dense = keras.layers.Dense(vocab_size, name="top") if vocab_size else None

    def bottom(self, x):
        return self.bottom_dense(tf.cast(x, self.compute_dtype))

    def targets_bottom(self, x):
        return self.bottom(x)

    def top(self, body_output):
        return self.top_dense(body_output) if self.top_dense is not None else body_output

    def loss(self, logits, targets, label_smoothing: float = 0.0):
        del label_smoothing
        sq = tf.square(tf.cast(logits, tf.float32) - tf.cast(targets, tf.float32))
        return tf.reduce_sum(sq), tf.cast(tf.size(sq), tf.float32)


@register_modality(ModalityType.SPEECH)
class SpeechRecognitionModality(Modality):
    """Log-mel features in (T2T's ``SpeechRecognitionModality`` bottom): two 3x3 stride-2
    convolutions of ``audio_conv_filters`` (layer norm, relu) shorten time and frequency 4x,
    then a convolution over 3 frames and every remaining frequency projects to
    ``hidden_size`` (layer norm, relu): ``[B, T, bins, C]`` -> ``[B, ceil(T / 4), hidden_size]``, the shape the
    symbol modality gives a body. Padding frames (all zero, as batching pads them) give
    all-zero outputs, so a body reads the padding off its inputs as it does for text, and a
    recording gives the same frames alone or in any batch."""

    def __init__(self, model_hparams, vocab_size, feature_name, **kwargs):
        super().__init__(model_hparams, vocab_size, feature_name, **kwargs)
        filters = int(model_hparams.get("audio_conv_filters", 128))
        self.convs = [keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False,
                                          name=f"conv_{i}") for i in range(2)]
        self.norms = [keras.layers.LayerNormalization(epsilon=1e-6, name=f"norm_{i}") for i in range(3)]
        self.projection = None

    def bottom(self, x):
        x = tf.cast(x, self.compute_dtype)
        # Time padded to a multiple of 4: a stride-2 "same" convolution places its windows by
        # the width's parity, so a recording's frames would depend on how wide its batch is.
        x = tf.ensure_shape(tf.pad(x, [[0, 0], [0, -tf.shape(x)[1] % 4], [0, 0], [0, 0]]),
                            [x.shape[0], None] + x.shape[2:])  # a traced pad loses the static bins and channels
        nonpadding = tf.cast(tf.reduce_any(tf.not_equal(x, 0), axis=[2, 3]), x.dtype)  # [B, T]
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            # padding frames zeroed after each layer (layer norm's offset would leak into real frames)
            x = tf.nn.relu(norm(conv(x))) * nonpadding[:, ::2 ** (i + 1), None, None]
        if self.projection is None:
            self.projection = keras.layers.Conv2D(self.model_hparams.hidden_size, (3, x.shape[2]),
                                                  padding="valid", use_bias=False, name="projection")
        x = self.projection(tf.pad(x, [[0, 0], [0, 2], [0, 0], [0, 0]]))[:, :, 0, :]  # [B, T/4, hidden]
        x = tf.nn.relu(self.norms[2](x))
        return x * nonpadding[:, ::4, None]  # real frames are a prefix: ceil(len / 4) stay

    def top(self, body_output):
        raise NotImplementedError("the speech modality reads inputs only; targets are symbols")


def create_modality(modality_type: str, model_hparams, vocab_size, feature_name: str) -> Modality:
    """The modality layer for one feature; an unknown type is a ``RegistryError`` naming
    the closest registered modalities."""
    try:
        cls = modality_class(modality_type)
    except RegistryError as e:
        raise RegistryError(f"feature '{feature_name}': {e}") from None
    return cls(model_hparams, vocab_size, feature_name)
