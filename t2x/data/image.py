"""Image problems: ``Image2ClassProblem`` and the IDX-file family (MNIST, Fashion-MNIST).

Storage. An image is stored as ``image/encoded`` bytes with ``image/format`` either
``"png"`` (T2T's choice) or ``"raw"`` (the H*W*C uint8 pixels). ``raw`` is the default,
by measurement on MNIST (``python benchmarks/mnist_datagen.py``, ratios of medians over
alternated rounds on a 2-core machine): raw generates in 0.47x PNG's time, reads 3.45x
faster in training (a batch of raw images decodes in one ``tf.io.decode_raw``; PNG decodes
image by image) and 1.9x faster over dev; PNG shards are 2.36x smaller (27.6 vs 65.0 MB).
Set ``image_format = "png"`` on a subclass where disk matters more. Readers accept both.

Features after ``dataset()``: ``inputs`` ``[H, W, C]`` (float32, per-image standardized,
as T2T; uint8 when the problem is ``_rev``, whose images are targets) and ``targets``
``[1]`` int64 class ids.
"""

import gzip
import os
import struct
import zlib
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

from t2x.data import download
from t2x.errors import ConfigError, DataError
from t2x.data.text_encoder import ClassLabelEncoder
from t2x.data.problem import DatasetSplit, ModalityType, Problem, SplitSpec

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


# ------------------------------------------------------------------- IDX files --

def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (gzip or plain) of unsigned bytes: images ``[N, H, W]`` or labels ``[N]``."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes)")
    magic, count = struct.unpack(">II", data[:8])
    if magic == _IDX_IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", data[8:16])
        shape, offset = (count, rows, cols), 16
    elif magic == _IDX_LABELS_MAGIC:
        shape, offset = (count,), 8
    else:
        raise DataError(f"{path}: IDX magic number {magic} is neither {_IDX_IMAGES_MAGIC} "
                         f"(images) nor {_IDX_LABELS_MAGIC} (labels)")
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise DataError(f"{path}: header says {shape} ({expected} bytes) but the file holds "
                         f"{len(data) - offset} bytes; it is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(path: str, array: np.ndarray) -> None:
    """Writes uint8 ``[N, H, W]`` images or ``[N]`` labels as (gzipped if ``.gz``) IDX."""
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 3:
        header = struct.pack(">IIII", _IDX_IMAGES_MAGIC, *array.shape)
    elif array.ndim == 1:
        header = struct.pack(">II", _IDX_LABELS_MAGIC, array.shape[0])
    else:
        raise ValueError(f"IDX arrays here are [N,H,W] or [N], got shape {array.shape}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


# ------------------------------------------------------------------------ PNG --

def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def encode_png(image: np.ndarray, compression: int = 6) -> bytes:
    """uint8 ``[H, W]``/``[H, W, 1]`` (gray) or ``[H, W, 3]`` (RGB) -> PNG bytes.

    Pure Python + zlib, so it is safe in processes forked after TensorFlow started.
    """
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2, 4: 6}.get(channels)
    if color_type is None:
        raise ValueError(f"PNG needs 1, 3 or 4 channels, got {channels}")
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compression))
            + _png_chunk(b"IEND", b""))


class ImageEncoder:
    """Pixels (uint8 ``[H, W, C]``) <-> stored bytes, PNG or raw (T2T's ``ImageEncoder``)."""

    def __init__(self, shape: Tuple[int, int, int], image_format: str = "raw"):
        if image_format not in ("png", "raw"):
            raise ConfigError(f"image_format must be 'png' or 'raw', got {image_format!r}")
        self.shape = tuple(shape)
        self.image_format = image_format

    def encode(self, image: np.ndarray) -> bytes:
        image = np.asarray(image, dtype=np.uint8).reshape(self.shape)
        return encode_png(image) if self.image_format == "png" else image.tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        if self.image_format == "raw":
            return np.frombuffer(data, np.uint8).reshape(self.shape)
        import tensorflow as tf
        return tf.io.decode_png(data, channels=self.shape[-1]).numpy()

    @property
    def vocab_size(self) -> int:
        return 256


# -------------------------------------------------------------- the problems --

class Image2ClassProblem(Problem):
    """Images -> one class label each. Subclasses set the class attributes below and yield
    ``(image uint8 [H, W] or [H, W, C], label int)`` samples from ``generate_samples``."""

    image_shape: Tuple[int, int, int] = (28, 28, 1)
    class_labels: Sequence[str] = tuple(str(i) for i in range(10))
    image_format = "raw"  # or "png"; see the module docstring
    batch_preprocess = True  # per_image_standardization works on [B, H, W, C] too
    train_shards = 10
    dev_shards = 1

    @property
    def num_classes(self) -> int:
        return len(self.class_labels)

    @property
    def dataset_splits(self) -> List[SplitSpec]:
        return [SplitSpec(DatasetSplit.TRAIN, self.train_shards),
                SplitSpec(DatasetSplit.EVAL, self.dev_shards)]

    def feature_encoders(self, data_dir):
        del data_dir
        return {"inputs": ImageEncoder(self.image_shape, self.image_format),
                "targets": ClassLabelEncoder(self.class_labels)}

    def hparams(self, defaults, model_hparams):
        del model_hparams
        defaults.modality = {"inputs": ModalityType.IMAGE, "targets": ModalityType.CLASS_LABEL}
        defaults.vocab_size = {"inputs": 256, "targets": self.num_classes}
        defaults.input_space_id = 1  # T2T's SpaceID.IMAGE
        defaults.target_space_id = 3  # T2T's SpaceID.IMAGE_LABEL

    def encode_sample(self, sample, encoders) -> Dict[str, list]:
        image, label = sample
        height, width, _ = self.image_shape
        return {"image/encoded": [encoders["inputs"].encode(image)],
                "image/format": [self.image_format.encode()],
                "image/class/label": [int(label)],
                "image/height": [height], "image/width": [width]}

    def example_reading_spec(self):
        import tensorflow as tf
        return {"image/encoded": tf.io.FixedLenFeature((), tf.string),
                "image/format": tf.io.FixedLenFeature((), tf.string, default_value="png"),
                "image/class/label": tf.io.FixedLenFeature((1,), tf.int64)}

    def decode_example(self, parsed):
        """A batch of parsed examples -> ``inputs`` uint8 ``[B, H, W, C]``, ``targets`` ``[B, 1]``.
        All-raw batches decode in one op; otherwise each image is decoded as PNG."""
        import tensorflow as tf

        shape = self.image_shape
        encoded = parsed["image/encoded"]

        def raw():
            return tf.reshape(tf.io.decode_raw(encoded, tf.uint8), (-1,) + shape)

        def png():
            return tf.map_fn(lambda b: tf.ensure_shape(tf.io.decode_png(b, channels=shape[-1]), shape),
                             encoded, fn_output_signature=tf.TensorSpec(shape, tf.uint8))

        all_raw = tf.reduce_all(tf.equal(parsed["image/format"], "raw"))
        images = tf.cond(all_raw, raw, png)
        return {"inputs": images, "targets": parsed["image/class/label"]}

    def preprocess_example(self, example, mode, hparams):
        """T2T's per-image standardization of ``inputs`` (skipped for ``_rev``), on a batch
        ``[B, H, W, C]`` (``batch_preprocess``) or one image ``[H, W, C]``."""
        del mode, hparams
        import tensorflow as tf
        if not self.was_reversed:
            example["inputs"] = tf.image.per_image_standardization(example["inputs"])
        return example

    def eval_metrics(self):
        return ["accuracy", "accuracy_top5", "neg_log_perplexity"]


class IdxImage2ClassProblem(Image2ClassProblem):
    """Image classification from the four IDX gzip files of the MNIST family.

    ``source_files`` maps train/dev images and labels to ``RemoteFile``s (name, sha256,
    mirrors). train = the training files, dev = the test files (T2T's split).
    """

    source_files: Dict[str, download.RemoteFile] = {}

    def prepare_data(self, data_dir, tmp_dir):
        """Host: downloads (or finds, checksummed) the four IDX files in ``tmp_dir``."""
        del data_dir
        download.maybe_download_all(tmp_dir, list(self.source_files.values()))

    def _paths(self, tmp_dir, dataset_split):
        prefix = "train" if dataset_split == DatasetSplit.TRAIN else "test"
        return (os.path.join(tmp_dir, self.source_files[f"{prefix}_images"].filename),
                os.path.join(tmp_dir, self.source_files[f"{prefix}_labels"].filename))

    def generate_samples(self, data_dir, tmp_dir, dataset_split) -> Iterator[Tuple[np.ndarray, int]]:
        """Host: ``(image uint8 [H, W], label)`` in file order (shards are shuffled on disk)."""
        del data_dir
        images_path, labels_path = self._paths(tmp_dir, dataset_split)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{images_path} and {labels_path} disagree: images {images.shape}, "
                             f"labels {labels.shape}")
        if images.shape[1:] != self.image_shape[:2]:
            raise DataError(f"{images_path}: images are {images.shape[1:]}, "
                             f"{self.name} expects {self.image_shape[:2]}")
        if labels.size and labels.max() >= self.num_classes:
            raise DataError(f"{labels_path}: label {labels.max()} >= {self.num_classes} classes")
        for image, label in zip(images, labels):
            yield image, int(label)


def idx_sources(filenames_sha256: Dict[str, Tuple[str, ...]], mirrors: Sequence[str],
                local_prefix: str = ""):
    """``{key: (filename, sha256[, content sha256])}`` + mirror base URLs -> ``{key: RemoteFile}``.

    ``local_prefix`` names the files in ``tmp_dir`` apart when two datasets share remote
    names (Fashion-MNIST's files are called as MNIST's).
    """
    return {key: download.RemoteFile(local_prefix + entry[0], entry[1],
                                      tuple(download.mirror_urls(entry[0], mirrors)),
                                      entry[2] if len(entry) > 2 else None)
            for key, entry in filenames_sha256.items()}


def class_histogram(labels: np.ndarray, num_classes: int) -> List[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


__all__ = ["read_idx", "write_idx", "encode_png", "ImageEncoder", "Image2ClassProblem",
           "IdxImage2ClassProblem", "idx_sources", "class_histogram"]
