"""Position information: T2T's sinusoid timing signals (of any positions: offsets for length
generalisation), the universal transformer's step signal, and the teacher-forcing shift."""

import math

import keras
import tensorflow as tf


def shift_right_3d(x):
    """T2T's ``shift_right_3d``: ``[B, L, D]`` -> a zero row prepended, the last dropped."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1, :]


def timing_signal_at(position, channels, min_timescale=1.0, max_timescale=1.0e4):
    """The sinusoid timing signal of arbitrary positions: ``position`` (any shape, int or
    float; may start anywhere, e.g. a random offset) -> ``position.shape + [channels]``
    float32: sines of geometrically spaced timescales in the first half of the channels,
    cosines in the second (a zero channel appended when ``channels`` is odd)."""
    position = tf.cast(position, tf.float32)
    num_timescales = channels // 2
    log_increment = math.log(float(max_timescale) / float(min_timescale)) / max(num_timescales - 1, 1)
    inv_timescales = min_timescale * tf.exp(
        tf.cast(tf.range(num_timescales), tf.float32) * -log_increment)
    scaled_time = position[..., None] * inv_timescales
    signal = tf.concat([tf.sin(scaled_time), tf.cos(scaled_time)], axis=-1)
    if channels % 2:
        signal = tf.concat([signal, tf.zeros_like(signal[..., :1])], axis=-1)
    return signal


def get_timing_signal_1d(length, channels, min_timescale=1.0, max_timescale=1.0e4, start_index=0):
    """T2T's ``get_timing_signal_1d``: ``[1, length, channels]`` float32, the signal of
    positions ``start_index .. start_index + length - 1`` (``timing_signal_at``)."""
    position = tf.range(length) + start_index
    return timing_signal_at(position, channels, min_timescale, max_timescale)[None, :, :]


def add_timing_signal_1d(x, min_timescale=1.0, max_timescale=1.0e4, position=None):
    """T2T's ``add_timing_signal_1d`` for ``[B, L, D]``; with ``position`` ``[B, L]`` int
    (packed rows: positions restart with each segment) the signal of each token's own
    position (T2T's ``add_timing_signal_1d_given_position``)."""
    if position is None:
        signal = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)
        return x + tf.cast(signal, x.dtype)
    table = get_timing_signal_1d(tf.shape(x)[1], x.shape[-1], min_timescale, max_timescale)[0]
    return x + tf.cast(tf.gather(table, tf.cast(position, tf.int32)), x.dtype)


class StepTimingSignal(keras.layers.Layer):
    """The universal transformer's step ("vertical") timing signal: which application of
    the weight-tied layer this is. ``call(x, step)`` adds to ``x [B, L, D]`` the signal of
    ``step`` (a Python int or a scalar int tensor, ``0 <= step < num_steps``), broadcast over
    batch and length.

    ``signal_type`` ``"learned"`` (T2T's ``get_layer_timing_signal_learned_1d``): a weight
    ``[num_steps, 1, D]`` drawn from ``N(0, D**-0.5)``, used times ``D**0.5``;
    ``"sinusoid"`` (``get_layer_timing_signal_sinusoid_1d``): the sinusoid of position
    ``step`` (no weights)."""

    SIGNAL_TYPES = ("learned", "sinusoid")

    def __init__(self, num_steps: int, signal_type: str = "learned", **kwargs):
        super().__init__(**kwargs)
        if signal_type not in self.SIGNAL_TYPES:
            raise ValueError(f"step_timing_signal_type={signal_type!r} is not supported; use "
                             f"{' or '.join(map(repr, self.SIGNAL_TYPES))}")
        self.num_steps = int(num_steps)
        self.signal_type = signal_type

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.signal_type == "learned":
            self.signal = self.add_weight(
                name="layer_timing_signal", shape=(self.num_steps, 1, channels),
                initializer=keras.initializers.RandomNormal(0.0, channels ** -0.5))
        self.built = True

    def call(self, x, step):
        channels = x.shape[-1]
        if self.signal_type == "learned":
            signal = tf.gather(tf.convert_to_tensor(self.signal), step) * channels ** 0.5  # [1, D]
        else:
            signal = timing_signal_at(tf.reshape(step, [1]), channels)  # [1, D]
        return x + tf.cast(signal, x.dtype)[None, :, :]
