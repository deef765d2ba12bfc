"""Tiny recordings made in the tests, in the real layouts (FSDD's folder, TSV lists,
LibriSpeech's tree and tarball): tone steps whose pitches name a digit, a little noise."""

import os
import tarfile

import numpy as np
import soundfile as sf

SPEAKERS = ("ann", "bob", "cat", "dan", "eve", "fay")  # the 6th in sorted order: fay
WORDS = ("zero", "one", "two")


def tone_steps(digit: int, rate: int = 8000, seed: int = 0, seconds: float = 0.3) -> np.ndarray:
    """A short silence, then a tone rising or falling by ``digit``: float32 in [-1, 1]."""
    rng = np.random.RandomState(seed)
    n = int(rate * (seconds + 0.05 * rng.rand()))
    t = np.arange(n) / rate
    freq = np.where(t < t[-1] / 2, 400 + 300 * digit, 2600 - 300 * digit)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / rate) + 0.01 * rng.randn(n)
    quiet = int(0.05 * rate)
    x[:quiet] = 0.01 * rng.randn(quiet)
    return x.astype(np.float32)


def write_wav(path, samples, rate: int, subtype: str = "PCM_16") -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    sf.write(str(path), samples, rate, subtype=subtype)
    return str(path)


def fsdd_folder(root, digits: int = 3, indices=range(8), rate: int = 8000) -> str:
    """``root/recordings/{digit}_{speaker}_{index}.wav`` for 6 speakers; returns ``root``."""
    for d in range(digits):
        for s, speaker in enumerate(SPEAKERS):
            for i in indices:
                write_wav(os.path.join(str(root), "recordings", f"{d}_{speaker}_{i}.wav"),
                          tone_steps(d, rate, seed=d * 1000 + s * 100 + i), rate)
    return str(root)


def librispeech_tree(root, subset: str, utterances=((19, 198, 3), (26, 495, 2))) -> str:
    """``root/LibriSpeech/<subset>/<speaker>/<chapter>/`` with ``n`` FLAC recordings (16 kHz)
    and their ``.trans.txt`` per (speaker, chapter, n); returns the subset folder."""
    subset_dir = os.path.join(str(root), "LibriSpeech", subset)
    for speaker, chapter, n in utterances:
        folder = os.path.join(subset_dir, str(speaker), str(chapter))
        os.makedirs(folder, exist_ok=True)
        lines = []
        for u in range(n):
            utt = f"{speaker}-{chapter}-{u:04d}"
            digit = (speaker + u) % 3
            sf.write(os.path.join(folder, f"{utt}.flac"), tone_steps(digit, 16000, seed=speaker + u), 16000,
                     format="FLAC", subtype="PCM_16")
            lines.append(f"{utt} {WORDS[digit].upper()} IT'S DIGIT")
        with open(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return subset_dir


def librispeech_tarball(path, subset: str, **kwargs) -> str:
    """``<subset>.tar.gz`` as OpenSLR ships it: members under ``LibriSpeech/<subset>/``."""
    staging = str(path) + ".tree"
    librispeech_tree(staging, subset, **kwargs)
    with tarfile.open(str(path), "w:gz") as tar:
        tar.add(os.path.join(staging, "LibriSpeech"), arcname="LibriSpeech")
    return str(path)
