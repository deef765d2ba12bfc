"""Export formats: each a converter from the written SavedModel (a table).

``FORMATS[name]`` is a ``Format``: ``convert(ctx, saved_model_dir) -> path`` writes the
format into the staging directory and returns its path there (``saved_model`` itself has
no converter). A new format adds an entry here; which kinds convert to it is the kind's
``formats`` (``t2x.export.kinds``).
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf

from t2x.data.problem import Mode
from t2x.errors import ConfigError

TFJS_VERSION = "4.22.0"
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfjs_page.html")


class ConverterError(ConfigError):
    """A converter refused the model (one line naming why)."""


@dataclasses.dataclass(frozen=True)
class Format:
    """``convert(ctx, saved_model_dir) -> path`` (None for the SavedModel itself)."""
    convert: Optional[Callable] = None


def _representative_images(problem, data_dir: str, count: int):
    """uint8 training images for full-integer calibration: the training split's first
    ``count`` examples, read before preprocessing (the export's input)."""
    ds = problem.read(Mode.TRAIN, data_dir, shuffle_files=False, repeat=False, deterministic=True)
    images = []
    for example in ds.as_numpy_iterator():
        for image in np.asarray(example["inputs"]).reshape((-1,) + tuple(problem.image_shape)):
            images.append(image)
            if len(images) >= count:
                return images
    return images


def convert_tflite(saved_model_dir: str, fmt: str, representative: Optional[list] = None) -> bytes:
    """The TF Lite converter on the SavedModel's ``predict_probabilities`` signature."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                         signature_keys=["predict_probabilities"])
    if fmt in ("tflite_dynamic", "tflite_int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt == "tflite_int8":
        def dataset():
            for image in representative:
                yield [image[None]]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def convert_tfjs(saved_model_dir: str, out_dir: str, signature: str = "predict_pixels") -> None:
    proc = subprocess.run([sys.executable, "-m", "t2x.export.tfjs_convert", saved_model_dir, out_dir,
                           signature], capture_output=True, text=True)
    if proc.returncode == 3:
        raise ConverterError(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"the tensorflowjs converter failed:\n{proc.stderr[-4000:]}")


def _tfjs_page(out_dir: str, export_info: dict) -> None:
    shutil.copy(PAGE, os.path.join(out_dir, "index.html"))
    labels = {"class_names": export_info.get("class_names"), "image_shape": export_info.get("image_shape"),
              "tfjs_version": TFJS_VERSION, "signature": "predict_pixels"}
    with open(os.path.join(out_dir, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, indent=1)




def _lite(fmt: str):
    def convert(ctx, saved_model_dir: str) -> str:
        representative = (_representative_images(ctx.problem, ctx.data_dir, ctx.representative_examples)
                          if fmt == "tflite_int8" else None)
        path = os.path.join(ctx.staging, f"{fmt}.tflite")
        with open(path, "wb") as f:
            f.write(convert_tflite(saved_model_dir, fmt, representative))
        return path
    return convert


def _tfjs(ctx, saved_model_dir: str) -> str:
    out = os.path.join(ctx.staging, "tfjs")
    convert_tfjs(saved_model_dir, out)
    _tfjs_page(out, ctx.info)
    return out


FORMATS: Dict[str, Format] = {
    "saved_model": Format(),
    "tflite": Format(_lite("tflite")),
    "tflite_dynamic": Format(_lite("tflite_dynamic")),
    "tflite_int8": Format(_lite("tflite_int8")),
    "tfjs": Format(_tfjs),
}
