"""Shared fixtures: tiny MNIST-format IDX files and a problem reading them.

No test touches the network: downloads point at 127.0.0.1 or run with T2X_OFFLINE=1.
"""

import hashlib
import os
import sys
import textwrap

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from t2x.data.image import write_idx  # noqa: E402

MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
TINY_TRAIN, TINY_TEST = 60, 20

# A user-dir model class for the binaries' tests (top-level code of a usr dir's __init__.py).
DENSE_MODEL_CODE = textwrap.dedent('''\
    class MyDenseNet(T2XModel):
        def build_body(self):
            self.flatten = keras.layers.Flatten()
            self.dense = keras.layers.Dense(self.hparams.hidden_size, activation="relu")

        def body(self, features):
            return self.dense(self.flatten(features["inputs"]))
''')


def usr_dir_code(table, train_shards=2, extra_problems=""):
    """The ``__init__.py`` of a user dir for the binaries' tests: ``image_tiny_digits`` over
    the IDX files of ``table`` (see make_tiny_mnist), ``extra_problems`` (code that may
    subclass ImageTinyDigits), the ``my_dense_net`` model with its default set
    ``my_dense_tiny`` (batch 8, hidden 16, constant learning rate 0.01)."""
    return (textwrap.dedent(f'''\
        import keras
        from t2x import registry
        from t2x.data.image import IdxImage2ClassProblem, idx_sources
        from t2x.hparams.basic import basic_params1
        from t2x.model import T2XModel

        @registry.register_problem
        class ImageTinyDigits(IdxImage2ClassProblem):
            train_shards = {train_shards}
            source_files = idx_sources({table!r}, ["http://127.0.0.1:9/"])
        ''') + textwrap.dedent(extra_problems) + "\n@registry.register_model(default_hparams_set=\"my_dense_tiny\")\n"
            + DENSE_MODEL_CODE + textwrap.dedent('''
        @registry.register_hparams
        def my_dense_tiny():
            hp = basic_params1()
            hp.batch_size, hp.hidden_size = 8, 16
            hp.learning_rate_schedule, hp.learning_rate_constant = "constant", 0.01
            return hp
        '''))


def shard_files(directory):
    """The files of ``directory`` without the writers' ``.count`` sidecars, sorted."""
    return sorted(f for f in os.listdir(directory) if not f.endswith(".count"))


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_tiny_mnist(directory, n_train=TINY_TRAIN, n_test=TINY_TEST, seed=0):
    """Writes the four IDX gzip files with random 28x28 images; returns {key: (name, sha256)}
    and the label arrays."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.RandomState(seed)
    arrays = {
        "train_images": rng.randint(0, 256, size=(n_train, 28, 28)).astype(np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.randint(0, 256, size=(n_test, 28, 28)).astype(np.uint8),
        "test_labels": rng.randint(0, 10, size=n_test).astype(np.uint8),
    }
    table = {}
    for key, name in MNIST_NAMES.items():
        path = os.path.join(directory, name)
        write_idx(path, arrays[key])
        table[key] = (name, sha256_of(path))
    return table, arrays


@pytest.fixture
def tiny_mnist(tmp_path):
    """(tmp_dir holding tiny IDX files, checksum table, arrays)."""
    tmp_dir = str(tmp_path / "raw")
    table, arrays = make_tiny_mnist(tmp_dir)
    return tmp_dir, table, arrays


@pytest.fixture
def tiny_problem_cls(tiny_mnist):
    """An unregistered IdxImage2ClassProblem over the tiny files (2 train shards)."""
    from t2x.data.image import IdxImage2ClassProblem, idx_sources

    _, table, _ = tiny_mnist

    class TinyMnist(IdxImage2ClassProblem):
        registered_name = "tiny_mnist_fixture"
        train_shards = 3
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])

    return TinyMnist
