"""Audio in the data floor: reading recordings, resampling, and the log-mel features as
TensorFlow ops (T2T's ``speech_recognition`` recipe and hparam names).

Host side (data generation, decoding from files), through maintained libraries imported
lazily (``pip install "t2x[audio]"``):

* ``read_audio(path, sample_rate)``: WAV, FLAC (and whatever libsndfile reads) with
  ``soundfile``; several channels are mixed down to mono (their mean); another rate is
  resampled to ``sample_rate`` with ``soxr`` (its "HQ" quality); returns int16 samples.
  A file that is not audio, or holds no samples, is a ``DataError`` naming it.

Shards store the waveform as **int16 little-endian bytes** in the ``waveform`` bytes feature
(2 bytes a sample: an int64 list would take up to 10 bytes for a negative sample) plus its
``sample_rate`` (int64); the targets are ids as in every text problem.

Graph side (inside ``tf.data`` and inside an exported SavedModel, so that an export takes raw
audio): ``waveform_features(waveform, sample_rate, hparams)``: float waveform ``[N]`` in
[-1, 1] -> ``[frames, audio_num_mel_bins, 1 or 3]`` float32:

1. pre-emphasis ``x[t] - audio_preemphasis * x[t - 1]`` (T2T: 0.97);
2. STFT with ``audio_frame_length`` ms windows (Hann, the FFT length the next power of 2)
   every ``audio_frame_step`` ms (25 and 10), padded at the end: ``ceil((N - 1) / step)``
   frames;
3. magnitudes onto ``audio_num_mel_bins`` (80) mel bands between
   ``audio_lower_edge_hertz`` (20) and ``min(audio_upper_edge_hertz, rate / 2)``, then
   ``log(max(1e-3, .))`` (T2T's floor);
4. with ``audio_add_delta_deltas`` (T2T's default True) three channels: the filterbanks,
   their deltas and delta-deltas (9-frame filters ``[2, 1, 0, -1, -2]`` and its
   self-convolution, each scaled to unit norm, zero-padded in time);
5. per-utterance normalisation (``audio_normalize``): each bin and channel to zero mean and
   unit variance over the utterance's frames (T2T's replacement for CMVN);
6. ``num_zeropad_frames`` zero frames appended (T2T: 250; here 0 by default: the frames
   cost compute and the speech modality masks padding anyway).

Padding frames are exactly zero and real frames are not, which is how the ``speech``
modality tells them apart. ``spec_augment(features, seed, hparams)``: SpecAugment-style
masking (training only, ``specaugment=True``; off by default) with stateless random ops
seeded per example, so a resumed run masks what an uninterrupted one masks. Masked values
become 0 (the utterance mean after normalisation).

``add_audio_hparams(hp)`` adds every hparam above with T2T's names and defaults to a set.
"""

import math
from typing import Any, Optional

import numpy as np

from t2x.errors import ConfigError, DataError

INSTALL_HINT = 'pip install "t2x[audio]"'


class AudioLibraryMissing(ConfigError):
    """soundfile or soxr is not installed; the message names the install command."""


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise AudioLibraryMissing(f"reading audio needs the soundfile package: {INSTALL_HINT}") from None
    return soundfile


def _soxr():
    try:
        import soxr
    except ImportError:
        raise AudioLibraryMissing(f"resampling audio needs the soxr package: {INSTALL_HINT}") from None
    return soxr


# ----------------------------------------------------------------------- hparams --

AUDIO_HPARAMS = dict(
    audio_num_mel_bins=80,
    audio_frame_length=25.0,  # ms
    audio_frame_step=10.0,  # ms
    audio_lower_edge_hertz=20.0,
    audio_upper_edge_hertz=8000.0,
    audio_preemphasis=0.97,
    audio_add_delta_deltas=True,
    audio_normalize=True,
    num_zeropad_frames=0,
    audio_conv_filters=128,  # the speech modality's two stride-2 convolutions
    specaugment=False,
    specaugment_freq_masks=2,
    specaugment_freq_width=15,
    specaugment_time_masks=2,
    specaugment_time_width=20,
    specaugment_time_ratio=0.2,  # a time mask covers at most this share of the frames
)


def add_audio_hparams(hp) -> Any:
    """Adds ``AUDIO_HPARAMS`` (T2T's names where it had them) to ``hp`` where absent; returns it."""
    for key, value in AUDIO_HPARAMS.items():
        if key not in hp.keys():
            hp.add_hparam(key, value)
    return hp


def audio_hparam(hparams, key: str):
    """``hparams.key``, or its ``AUDIO_HPARAMS`` default when ``hparams`` is None or lacks it."""
    if hparams is None:
        return AUDIO_HPARAMS[key]
    return hparams.get(key, AUDIO_HPARAMS[key])


def feature_channels(hparams) -> int:
    return 3 if audio_hparam(hparams, "audio_add_delta_deltas") else 1


# ------------------------------------------------------------------------ host --

def read_audio(path: str, sample_rate: int, where: Optional[str] = None) -> np.ndarray:
    """Host: the recording at ``path`` as int16 samples ``[N]`` at ``sample_rate`` (mono
    mixdown, resampled with soxr when the file's rate differs). ``where`` names the source
    in errors (``file:line`` of a transcript list; default ``path``). A file that libsndfile
    cannot read as audio, or with no samples, is a one-line ``DataError``."""
    sf = _soundfile()
    name = where or path
    try:
        data, rate = sf.read(path, dtype="int16", always_2d=True)  # libsndfile scales any format
    except FileNotFoundError:
        raise DataError(f"{name}: no such audio file {path}; fix the path") from None
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{name}: {path} is not an audio file soundfile can read ({reason}); "
                        "give a WAV or FLAC recording") from None
    if data.shape[0] == 0:
        raise DataError(f"{name}: {path} is an empty recording (0 samples); remove it from the list "
                        "or replace it with a recording")
    if data.shape[1] == 1 and rate == sample_rate:
        return data[:, 0]  # 16-bit mono at the rate: the samples as they are
    mono = data.astype(np.float32).mean(axis=1) / 32768.0
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    return to_int16(mono)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Host: float samples ``[N]`` from ``rate_in`` to ``rate_out`` Hz (soxr, HQ)."""
    if rate_in == rate_out:
        return samples
    return _soxr().resample(np.asarray(samples, np.float32), rate_in, rate_out, quality="HQ")


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16 (clipped, rounded)."""
    return np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def int16_bytes(samples: np.ndarray) -> bytes:
    """int16 samples -> the little-endian bytes a shard stores."""
    return np.asarray(samples, np.int16).astype("<i2").tobytes()


# ----------------------------------------------------------------------- graph --

def _delta_filters() -> np.ndarray:
    """``[9, 1, 1, 3]``: identity, delta and delta-delta filters over time, unit norm each."""
    delta = np.array([2.0, 1.0, 0.0, -1.0, -2.0])
    delta_delta = np.convolve(delta, delta)  # 9 taps
    identity = np.zeros(9)
    identity[4] = 1.0
    stack = np.stack([identity, np.pad(delta, 2), delta_delta], axis=1)  # [9, 3]
    stack /= np.sqrt(np.sum(stack ** 2, axis=0, keepdims=True))
    return stack[:, None, None, :].astype(np.float32)


def frame_sizes(sample_rate: int, hparams=None):
    """``(frame_length, frame_step, fft_length)`` in samples for ``sample_rate``."""
    length = int(round(sample_rate * audio_hparam(hparams, "audio_frame_length") / 1000.0))
    step = int(round(sample_rate * audio_hparam(hparams, "audio_frame_step") / 1000.0))
    return length, step, 2 ** int(math.ceil(math.log2(length)))


def waveform_features(waveform, sample_rate: int, hparams=None):
    """Graph (``tf.data`` or an export): float32 waveform ``[N]`` in [-1, 1] at
    ``sample_rate`` (a Python int: the problem's rate) -> ``[frames, mel bins, channels]``
    float32 (see the module docstring). ``N`` must be >= 2."""
    import tensorflow as tf

    hp = lambda key: audio_hparam(hparams, key)  # noqa: E731
    x = tf.cast(waveform, tf.float32)
    if hp("audio_preemphasis"):
        x = x[1:] - hp("audio_preemphasis") * x[:-1]
    length, step, fft = frame_sizes(sample_rate, hparams)
    stft = tf.signal.stft(x, frame_length=length, frame_step=step, fft_length=fft, pad_end=True)
    magnitude = tf.abs(stft)  # [frames, fft // 2 + 1]
    upper = min(float(hp("audio_upper_edge_hertz")), sample_rate / 2.0)
    mel = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=int(hp("audio_num_mel_bins")), num_spectrogram_bins=fft // 2 + 1,
        sample_rate=sample_rate, lower_edge_hertz=float(hp("audio_lower_edge_hertz")), upper_edge_hertz=upper)
    features = tf.math.log(tf.maximum(tf.matmul(magnitude, mel), 1e-3))[:, :, None]  # [T, bins, 1]
    if hp("audio_add_delta_deltas"):
        features = tf.nn.conv2d(features[None], tf.constant(_delta_filters()), strides=1, padding="SAME")[0]
    if hp("audio_normalize"):
        mean = tf.reduce_mean(features, axis=0, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(features, mean), axis=0, keepdims=True)
        features = (features - mean) * tf.math.rsqrt(variance + 1e-9)
    pad = int(hp("num_zeropad_frames") or 0)
    if pad:
        features = tf.pad(features, [[0, pad], [0, 0], [0, 0]])
    return features


def int16_to_float(samples):
    """Graph: int16 samples -> float32 in [-1, 1)."""
    import tensorflow as tf

    return tf.cast(samples, tf.float32) / 32768.0


def decode_waveform_bytes(data):
    """Graph: a shard's ``waveform`` bytes (int16 little-endian) -> float32 ``[N]``."""
    import tensorflow as tf

    return int16_to_float(tf.io.decode_raw(data, tf.int16, little_endian=True))


def spec_augment(features, seed, hparams):
    """Graph, training only: SpecAugment-style masks on ``[T, bins, C]`` features:
    ``specaugment_freq_masks`` bands of up to ``specaugment_freq_width`` bins and
    ``specaugment_time_masks`` spans of up to ``min(specaugment_time_width,
    specaugment_time_ratio * T)`` frames set to 0. ``seed`` int64 ``[2]`` seeds stateless
    draws (same seed, same masks)."""
    import tensorflow as tf

    hp = lambda key: audio_hparam(hparams, key)  # noqa: E731
    seed = tf.cast(seed, tf.int64)
    frames, bins = tf.shape(features)[0], tf.shape(features)[1]
    keep = tf.ones([frames, bins], features.dtype)
    draws = 0

    def uniform(maxval):  # an int in [0, maxval), maxval >= 1
        nonlocal draws
        draws += 1
        s = tf.stack([seed[0], seed[1] * 1000 + draws])
        return tf.random.stateless_uniform([], s, minval=0, maxval=tf.maximum(maxval, 1), dtype=tf.int32)

    def mask(extent, width_max, axis):
        width = uniform(width_max + 1)
        start = uniform(extent - width + 1)
        positions = tf.range(extent)
        band = tf.cast(tf.logical_or(positions < start, positions >= start + width), features.dtype)
        return band[:, None] if axis == 0 else band[None, :]

    for _ in range(int(hp("specaugment_freq_masks"))):
        keep *= mask(bins, tf.minimum(int(hp("specaugment_freq_width")), bins), 1)
    time_width = tf.minimum(int(hp("specaugment_time_width")),
                            tf.cast(float(hp("specaugment_time_ratio")) * tf.cast(frames, tf.float32), tf.int32))
    for _ in range(int(hp("specaugment_time_masks"))):
        keep *= mask(frames, time_width, 0)
    return features * keep[:, :, None]


__all__ = ["AUDIO_HPARAMS", "AudioLibraryMissing", "INSTALL_HINT", "add_audio_hparams", "audio_hparam",
           "decode_waveform_bytes", "feature_channels", "frame_sizes", "int16_bytes", "int16_to_float",
           "read_audio", "resample", "spec_augment", "to_int16", "waveform_features"]
