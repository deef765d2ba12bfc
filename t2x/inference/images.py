"""Samples of an image generation model: PNG files (``t2x-decoder``) and TensorBoard images
(the evaluator), both through ``ImageSampler``.

    sampler = ImageSampler(model, problem, decode_hparams=parse_decode_hparams("num_samples=16"))
    summary = sampler.write(folder)   # class-conditional: 16 samples of each class

What ``write(folder)`` writes (uint8 PNGs, ``H x W`` gray or RGB):

* class-conditional (a ``class_label`` input): for each class ``c`` with label ``name``,
  ``num_samples`` samples ``sample-<c>-<name>-<i>.png`` and their grid
  ``grid-<c>-<name>.png`` (``ceil(sqrt(n))`` columns, 16 samples -> 4 x 4);
* unconditional: ``num_samples`` samples ``sample-<i>.png`` and their grid ``grid.png``.

Sampling (``T2XModel.infer`` -> ``t2x.decoding.decode_images``) is always random: each
sub-pixel is drawn from the softmax at ``sampling_temp`` (0: the argmax), among the
``top_k`` likeliest when > 0, with the model's cache unless ``use_cache=false``, in batches
of ``batch_size`` images. ``seed`` makes it reproducible: the same seed, checkpoint and
decode hparams give the same pixels (and the cached and uncached paths agree).
"""

import math
import os
import re
import time
from typing import List, Optional

import numpy as np
import tensorflow as tf

from t2x.data.image import encode_png
from t2x.data.problem import ProblemKind, problem_kind
from t2x.errors import ConfigError
from t2x.hparam import HParams


class ImageGenerationError(ConfigError):
    """Sampling images was asked of a run that does not generate images."""


def check_image_generation(problem_hparams, name: str) -> None:
    """An ``ImageGenerationError`` naming the fix unless the problem generates images."""
    if problem_kind(problem_hparams) != ProblemKind.IMAGE_GENERATION:
        modality = problem_hparams.modality
        raise ImageGenerationError(
            f"{name} has {modality.get('inputs') or 'no'} inputs and {modality.get('targets')} targets, not "
            "pixels: only an image generation run samples images; train one on image_mnist_gen, "
            "image_mnist_gen_conditional or image_cifar10_plain_gen (model imagetransformer)")


def image_grid(images: np.ndarray, columns: Optional[int] = None) -> np.ndarray:
    """``[N, H, W, C]`` -> one ``[rows * H, columns * W, C]`` image, row-major, blank cells
    black; ``columns`` defaults to ``ceil(sqrt(N))``."""
    n, height, width, channels = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    grid = np.zeros((rows * height, columns * width, channels), images.dtype)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = image
    return grid


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_") or "class"


class ImageSampler:
    """Samples images from a trained image generation model (see the module docstring)."""

    samples_images = True  # t2x-decoder writes its samples instead of decoding text

    def __init__(self, model, problem, data_dir: Optional[str] = None, decode_hparams=None):
        check_image_generation(model.problem_hparams, problem.full_name)
        self.model = model
        self.problem = problem
        self.data_dir = data_dir
        # t2x.inference.decoder's decode hparams (the evaluator may pass none: their defaults).
        self.decode_hparams = decode_hparams or HParams(sampling_temp=1.0, top_k=0, use_cache=True, batch_size=32,
                                                        num_samples=16, seed=1)
        self.conditional = "inputs" in model.modalities
        hp = self.decode_hparams
        kwargs = dict(temperature=float(hp.sampling_temp), top_k=int(hp.top_k), use_cache=bool(hp.use_cache),
                      seed=int(hp.get("seed", 1)), sampling_method="random")
        if self.conditional:
            self._infer = tf.function(lambda labels: model.infer({"inputs": labels}, **kwargs),
                                      input_signature=[tf.TensorSpec([None, 1], tf.int64)])
        else:
            self._infer = tf.function(lambda n: model.infer({"batch_size": n}, **kwargs),
                                      input_signature=[tf.TensorSpec([], tf.int32)])
        self.last_samples_per_second = 0.0

    @property
    def class_names(self) -> List[str]:
        return list(getattr(self.problem, "class_labels", range(self.model.problem_hparams.vocab_size["inputs"])))

    def sample(self, labels: Optional[np.ndarray] = None, num_samples: int = 0) -> np.ndarray:
        """uint8 ``[N, H, W, C]``: one sample per label (class-conditional, ``labels [N]``) or
        ``num_samples`` (unconditional), in batches of ``batch_size``."""
        batch = int(self.decode_hparams.batch_size)
        start, out = time.monotonic(), []
        if self.conditional:
            if labels is None:
                raise ValueError("a class-conditional model samples given labels")
            labels = np.asarray(labels, np.int64).reshape(-1, 1)
            for i in range(0, len(labels), batch):
                out.append(self._infer(tf.constant(labels[i:i + batch]))["outputs"].numpy())
            n = len(labels)
        else:
            n = int(num_samples)
            for i in range(0, n, batch):
                out.append(self._infer(tf.constant(min(batch, n - i), tf.int32))["outputs"].numpy())
        self.last_samples_per_second = n / max(time.monotonic() - start, 1e-9)
        shape = (0,) + tuple(int(s) for s in self.model.problem_hparams.image_shape)
        return np.clip(np.concatenate(out), 0, 255).astype(np.uint8) if out else np.zeros(shape, np.uint8)

    def write(self, folder: str) -> str:
        """Writes the PNG samples and grids into ``folder`` (made if missing); returns the
        summary line."""
        from t2x.fileio import atomic_path

        n = int(self.decode_hparams.get("num_samples", 16))
        os.makedirs(folder, exist_ok=True)
        files = 0

        def save(name, image):
            nonlocal files
            with atomic_path(os.path.join(folder, name)) as tmp, open(tmp, "wb") as f:
                f.write(encode_png(image))
            files += 1

        if self.conditional:
            names = self.class_names
            labels = np.repeat(np.arange(len(names)), n)
            images = self.sample(labels)
            for c, name in enumerate(names):
                mine = images[c * n:(c + 1) * n]
                for i, image in enumerate(mine):
                    save(f"sample-{c}-{_slug(name)}-{i}.png", image)
                save(f"grid-{c}-{_slug(name)}.png", image_grid(mine))
            what = f"{n} samples of each of {len(names)} classes"
        else:
            images = self.sample(num_samples=n)
            for i, image in enumerate(images):
                save(f"sample-{i}.png", image)
            save("grid.png", image_grid(images))
            what = f"{n} samples"
        return (f"wrote {what} ({files} PNG files, {images.shape[1]}x{images.shape[2]}) to {folder} "
                f"({self.last_samples_per_second:.2f} samples/s)")

    def write_summaries(self, writer, step: int, per_class: int = 4, max_outputs: int = 10) -> None:
        """TensorBoard ``samples`` at ``step``: a grid of ``per_class`` samples for each class
        (up to ``max_outputs`` classes), or one grid of ``per_class ** 2`` unconditional samples."""
        if self.conditional:
            classes = min(len(self.class_names), max_outputs)
            images = self.sample(np.repeat(np.arange(classes), per_class))
            grids = np.stack([image_grid(images[c * per_class:(c + 1) * per_class]) for c in range(classes)])
        else:
            grids = image_grid(self.sample(num_samples=per_class ** 2))[None]
        with writer.as_default(step=step):
            tf.summary.image("samples", grids, max_outputs=max_outputs, step=step)
        writer.flush()
