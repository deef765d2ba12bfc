"""CIFAR-10 (T2T's ``image_cifar10`` and ``image_cifar10_plain``) from the python-version
tarball: train = the 50,000 images of ``data_batch_1..5``, dev = the 10,000 of
``test_batch``; 32x32x3, 10 classes.

The tarball is checksummed (sha256, as Keras records it) and looked for in ``--tmp_dir``
first: copy ``cifar-10-python.tar.gz`` there to work offline. Shards hold the raw pixels;
``image_cifar10``'s training augmentation is T2T's (pad to 40x40, random 32x32 crop, random
horizontal flip), applied in the input pipeline, not in the shards, with stateless random
ops seeded by (``--random_seed``, the example's index), so an exactly resumed run sees the
crops an uninterrupted one sees. ``image_cifar10_plain`` reads the same shards without it.
Then per-image standardization, as T2T.
"""

import os
import pickle
import tarfile

import numpy as np

from t2x import registry
from t2x.data import download
from t2x.data.image import Image2ClassProblem
from t2x.data.problem import DatasetSplit
from t2x.errors import DataError

CIFAR10_FILE = download.RemoteFile(
    "cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def read_cifar_tarball(path: str, members, num_classes: int = 10):
    """(images uint8 [N, 32, 32, 3], labels [N]) of the named batches of a python-version
    CIFAR tarball (each a pickle of ``data`` [n, 3072] channel planes and ``labels``)."""
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            for member in members:
                if member not in names:
                    raise DataError(f"{path} has no {member}: not the python-version CIFAR tarball")
                batch = pickle.load(tar.extractfile(names[member]), encoding="bytes")
                data = np.asarray(batch[b"data"], dtype=np.uint8)
                images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    except (tarfile.TarError, EOFError, pickle.UnpicklingError, KeyError) as e:
        raise DataError(f"{path} cannot be read as a CIFAR tarball: {e}") from None
    images, labels = np.concatenate(images), np.concatenate(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{path}: label {labels.max()} outside the {num_classes} classes")
    return images, labels


@registry.register_problem
class ImageCifar10(Image2ClassProblem):
    """CIFAR-10 with T2T's training augmentation (pad 4, random crop, random flip)."""

    image_shape = (32, 32, 3)
    class_labels = CIFAR10_CLASSES
    source_file = CIFAR10_FILE
    augment_in_training = True
    batch_preprocess = False  # augmentation, then standardization, per image (T2T's order)

    def dataset_filename(self) -> str:
        return "image_cifar10"

    def prepare_data(self, data_dir, tmp_dir):
        del data_dir
        download.maybe_download_all(tmp_dir, [self.source_file])

    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        del data_dir
        members = _TRAIN_BATCHES if dataset_split == DatasetSplit.TRAIN else ("test_batch",)
        images, labels = read_cifar_tarball(os.path.join(tmp_dir, self.source_file.filename), members)
        for image, label in zip(images, labels):
            yield image, int(label)

    def augment_example(self, example, seed):
        import tensorflow as tf

        if self.was_reversed:
            return example
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        image = tf.image.resize_with_crop_or_pad(example["inputs"], 40, 40)
        image = tf.image.stateless_random_crop(image, self.image_shape, crop_seed)
        example["inputs"] = tf.image.stateless_random_flip_left_right(image, flip_seed)
        return example


@registry.register_problem
class ImageCifar10Plain(ImageCifar10):
    """CIFAR-10 without augmentation (the same shards)."""

    augment_in_training = False
