"""t2x.data.audio: reading (mono mixdown, resampling, int16), its one-line errors, and the
log-mel features and SpecAugment as TensorFlow ops."""

import math
import sys

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from speech_test_utils import tone_steps, write_wav
from t2x.data import audio
from t2x.errors import DataError


def test_read_audio_mixes_down_to_mono_int16(tmp_path):
    t = np.arange(800) / 8000
    tone = np.sin(2 * np.pi * 500 * t)
    stereo = np.stack([0.4 * tone, 0.2 * tone], axis=1).astype(np.float32)
    path = write_wav(tmp_path / "stereo.wav", stereo, 8000)
    samples = audio.read_audio(path, 8000)
    assert samples.dtype == np.int16 and samples.shape == (800,)
    np.testing.assert_allclose(samples / 32768.0, 0.3 * tone, atol=2e-4)


def test_read_audio_resamples_to_the_problems_rate(tmp_path):
    t = np.arange(16000) / 16000
    path = write_wav(tmp_path / "a16k.wav", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 16000)
    samples = audio.read_audio(path, 8000).astype(np.float64)
    assert abs(len(samples) - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 8000 / len(samples) - 1000) < 2  # still a 1 kHz tone


def test_flac_reads_like_wav(tmp_path):
    x = audio.to_int16(tone_steps(1, 16000, seed=3))  # int16 written as is to both formats
    sf.write(str(tmp_path / "a.flac"), x, 16000, format="FLAC", subtype="PCM_16")
    write_wav(tmp_path / "a.wav", x, 16000)
    np.testing.assert_array_equal(audio.read_audio(str(tmp_path / "a.flac"), 16000), x)
    np.testing.assert_array_equal(audio.read_audio(str(tmp_path / "a.wav"), 16000), x)


def test_a_file_that_is_not_audio_is_one_line_naming_it(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not a recording\n")
    with pytest.raises(DataError) as e:
        audio.read_audio(str(path), 8000, where="list.tsv:3")
    message = str(e.value)
    assert "\n" not in message and message.startswith("list.tsv:3: ") and str(path) in message
    assert "not an audio file" in message and "WAV or FLAC" in message


def test_an_empty_recording_is_one_line_naming_it(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 8000)
    with pytest.raises(DataError, match=r"empty\.wav is an empty recording \(0 samples\)"):
        audio.read_audio(path, 8000)


def test_missing_soundfile_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(audio.AudioLibraryMissing, match=r'pip install "t2x\[audio\]"'):
        audio.read_audio(str(tmp_path / "x.wav"), 8000)
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(audio.AudioLibraryMissing, match=r"soxr.*pip install"):
        audio.resample(np.zeros(10, np.float32), 16000, 8000)


def test_features_are_80_log_mel_bins_25ms_10ms_with_deltas_normalised():
    x = tf.constant(tone_steps(2, 8000, seed=1)[:8000])
    n = int(x.shape[0])
    assert audio.frame_sizes(8000) == (200, 80, 256) and audio.frame_sizes(16000) == (400, 160, 512)
    f = audio.waveform_features(x, 8000).numpy()
    assert f.shape == (math.ceil((n - 1) / 80), 80, 3)  # pre-emphasis drops one sample
    np.testing.assert_allclose(f.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(f.std(axis=0), 1.0, atol=1e-3)
    plain = audio.waveform_features(x, 8000, _hp(audio_add_delta_deltas=False, num_zeropad_frames=5)).numpy()
    assert plain.shape == (f.shape[0] + 5, 80, 1)
    np.testing.assert_allclose(plain[:-5, :, 0], f[:, :, 0], atol=1e-5)  # channel 0 is the filterbanks
    assert not plain[-5:].any()


def _hp(**kw):
    from t2x.hparam import HParams

    hp = HParams(**audio.AUDIO_HPARAMS)
    for k, v in kw.items():
        hp.set_hparam(k, v)
    return hp


def test_spec_augment_is_seeded_and_masks_bands_and_spans():
    f = tf.ones([100, 80, 3])
    hp = _hp(specaugment=True)
    a = audio.spec_augment(f, tf.constant([7, 1], tf.int64), hp).numpy()
    b = audio.spec_augment(f, tf.constant([7, 1], tf.int64), hp).numpy()
    c = audio.spec_augment(f, tf.constant([7, 2], tf.int64), hp).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    zero_bins = np.where(~a.any(axis=(0, 2)))[0]
    zero_frames = np.where(~a.any(axis=(1, 2)))[0]
    assert 0 < len(zero_bins) <= 2 * 15 and len(zero_frames) <= 2 * 20
    assert set(np.unique(a)) <= {0.0, 1.0}
