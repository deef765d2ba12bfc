"""image_cifar10 / image_cifar10_plain from a tiny tarball in the real python-version layout."""

import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from t2x import registry
from t2x.data import download
from t2x.data.problem import Mode

PER_BATCH = 4


def write_tarball(path, seed=0):
    """data_batch_1..5 (4 images each) + test_batch (4) + batches.meta; returns the arrays."""
    rng = np.random.RandomState(seed)
    arrays = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
            if name == "batches.meta":
                payload = {b"label_names": [c.encode() for c in registry.problem("image_cifar10").class_labels]}
            else:
                data = rng.randint(0, 256, size=(PER_BATCH, 3072)).astype(np.uint8)
                labels = rng.randint(0, 10, size=PER_BATCH).tolist()
                arrays[name] = (data, labels)
                payload = {b"data": data, b"labels": labels, b"batch_label": name.encode()}
            blob = pickle.dumps(payload)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return arrays


@pytest.fixture
def cifar(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    arrays = write_tarball(str(raw / "cifar-10-python.tar.gz"))
    sha = hashlib.sha256((raw / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    tiny = download.RemoteFile("cifar-10-python.tar.gz", sha, ("http://127.0.0.1:9/",))
    problems = []
    for name in ("image_cifar10", "image_cifar10_plain"):
        problem = registry.problem(name)
        problem.source_file = tiny
        problem.train_shards = 2
        problems.append(problem)
    problems[0].generate_data(str(tmp_path / "data"), str(raw))
    return tmp_path, arrays, problems


def test_shards_hold_the_tarballs_images_in_hwc(cifar):
    root, arrays, (aug, plain) = cifar
    dev = next(iter(plain.read(Mode.EVAL, str(root / "data"), deterministic=True)))
    assert dev["inputs"].shape == (4, 32, 32, 3) and dev["inputs"].dtype == tf.uint8
    data, labels = arrays["test_batch"]
    expected = data.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1)
    got = dev["inputs"].numpy()
    order = [int(np.argmax([np.array_equal(g, e) for e in expected])) for g in got]
    assert all(np.array_equal(got[i], expected[order[i]]) for i in range(4))  # red plane first
    assert dev["targets"].numpy().ravel().tolist() == [labels[j] for j in order]
    train = sum(int(b["inputs"].shape[0]) for b in plain.read(Mode.EVAL, str(root / "data"), dataset_split="train"))
    assert train == 20
    assert plain.get_hparams().vocab_size["targets"] == 10 and plain.class_labels[0] == "airplane"


def test_training_augmentation_is_seeded_per_example_and_eval_is_plain(cifar):
    root, _, (aug, plain) = cifar
    data = str(root / "data")

    def images(problem, mode, seed=7, n=16):
        ds = problem.dataset(mode, data, seed=seed, deterministic=True, shuffle_files=False,
                             shuffle_buffer_size=1)
        return np.stack([e["inputs"].numpy() for e in ds.take(n)])

    plain_train, aug_train = images(plain, Mode.TRAIN), images(aug, Mode.TRAIN)
    assert aug_train.shape == (16, 32, 32, 3)
    changed = [not np.allclose(a, p) for a, p in zip(aug_train, plain_train)]
    assert sum(changed) >= 12  # crops move nearly every image (a centred, unflipped crop is rare)
    np.testing.assert_array_equal(images(aug, Mode.TRAIN), aug_train)  # same seed, same crops
    assert not np.allclose(images(aug, Mode.TRAIN, seed=8), aug_train)
    # example 20 is example 0 again (20 training images, files in order): another crop
    plain_24, aug_24 = images(plain, Mode.TRAIN, n=24), images(aug, Mode.TRAIN, n=24)
    np.testing.assert_array_equal(plain_24[20], plain_24[0])
    assert not np.allclose(aug_24[20], aug_24[0])
    np.testing.assert_allclose(images(aug, Mode.EVAL, n=4), images(plain, Mode.EVAL, n=4))
