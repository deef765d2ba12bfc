"""Exporting a trained run: SavedModel, TF Lite (float, dynamic-range int8, full int8) and
TF.js; the library behind ``t2x-exporter``. An export needs nothing of t2x to run.

    result = export("~/t2x_train/image_mnist/basic_fc_relu-basic_fc_small",
                    formats=["saved_model", "tflite_int8", "tfjs"])
    result.export_dir   # RUN/export/<step>/

Layout of ``RUN/export/<step>/`` (each format named after itself):

    saved_model/            tag "serve" (TF Serving's layout: copy it to <model>/<version>/)
    tflite.tflite           float32
    tflite_dynamic.tflite   dynamic-range int8 weights
    tflite_int8.tflite      full integer: int8 weights and activations, uint8 images in
    tfjs/                   model.json + weight shards + index.html (the page that runs it)
    export.json, README.md  signatures, step, checkpoint, problem, model, hparams (set and
                            values), class names, decode hparams

The directory is staged as ``<step>.partial-<pid>`` beside its final name and renamed into
place when every format is written: a killed export leaves no directory under the final
name (the next export removes the stale staging directory). An existing ``export_dir`` must
be empty or an earlier export (it holds ``export.json``), which ``overwrite`` replaces only
once the new one is whole (``check_destination``: never the run, a folder holding it, nor
the run's files outside ``export/``). A full or read-only destination is an ExportError
naming it, and nothing is left there (``write_staged``).

Signatures, by what the problem's features are (``export.json`` lists them with shapes):

* image classification (image inputs, class-label targets):
  ``serving_default(images uint8 [B, H, W, C]) -> classes int64 [B], class_names string
  [B], probabilities float32 [B, K]``, the problem's preprocessing (per-image
  standardization) inside; ``predict_encoded(images string [B])`` the same from PNG/JPEG/
  GIF/BMP bytes; ``predict_probabilities(uint8)`` and ``predict_pixels(float32 0..255)``
  without strings (what TF Lite and TF.js convert: neither has string tensors, TF.js has no
  uint8); ``features(inputs float32 [B, H, W, C] standardized) -> features`` the body's
  output, for reuse as a module (``models/transfer.py``).
* text to text (symbol inputs and targets): ``serving_default(inputs string [B]) ->
  outputs string [B], scores float32 [B]`` decoded with the decode hparams given (greedy or
  beam search, inside the graph), the vocabulary an asset, the encoding graph ops
  (``t2x.data.graph_text``); ``predict_ids(inputs int64 [B, L], EOS-terminated, 0-padded)
  -> outputs int64 [B, L'] (EOS then 0s), scores``; ``encode(inputs string [B]) -> ids``.
* text classification (symbol inputs, class-label targets): ``serving_default(inputs
  string)`` -> classes, class_names, probabilities; ``predict_ids``.
* language models (symbol targets, no inputs): ``serving_default(prompt string [B]) ->
  outputs string [B]`` (the continuation), ``predict_ids(prompt int64 [B, L])``.

A vocabulary with no graph version (``graph_text.unsupported_reason``) gets the ids
signatures only, and the README says why.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from t2x.data.problem import Mode, ModalityType
from t2x.errors import ConfigError
from t2x.fileio import atomic_dir, inside, write_text_atomic
from t2x.model import tf_variables
from t2x.inference.decoder import infer_kwargs, parse_decode_hparams
from t2x.runs.checkpoints import restore_weights
from t2x.runs.run_dir import RunDir

FORMATS = ("saved_model", "tflite", "tflite_dynamic", "tflite_int8", "tfjs")
LITE_FORMATS = ("tflite", "tflite_dynamic", "tflite_int8")
TFJS_VERSION = "4.22.0"
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfjs_page.html")


class ExportError(ConfigError):
    """An export that cannot be made as asked (one line naming the fix)."""


@dataclasses.dataclass
class ExportResult:
    export_dir: str
    step: int
    checkpoint: str
    files: Dict[str, str]
    signatures: Dict[str, dict]
    kind: str

    def summary(self) -> str:
        sizes = ", ".join(f"{fmt} {size_bytes(path) / 1e6:.2f} MB" for fmt, path in self.files.items())
        return f"exported step {self.step} ({self.kind}) to {self.export_dir}: {sizes}"


def parse_formats(formats) -> List[str]:
    names = [f.strip() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    if not names:
        raise ExportError(f"--formats is empty: give one or more of {','.join(FORMATS)}")
    for name in names:
        if name not in FORMATS:
            from t2x.errors import did_you_mean
            close = did_you_mean(name, FORMATS, prefix="; did you mean ")
            raise ExportError(f"--formats: unknown format {name!r}{close}; "
                              f"the formats are {','.join(FORMATS)}")
    if "tfjs" in names or any(n in LITE_FORMATS for n in names):
        if "saved_model" not in names:  # both are converted from it
            names = ["saved_model"] + names
    return list(dict.fromkeys(names))


def serving_kind(problem_hparams) -> str:
    """image_classifier, text_classifier, text2text or language_model (or ExportError)."""
    modality = problem_hparams.modality
    inputs, targets = modality.get("inputs"), modality.get("targets")
    if targets == ModalityType.CLASS_LABEL and inputs == ModalityType.IMAGE:
        return "image_classifier"
    if targets == ModalityType.CLASS_LABEL and inputs == ModalityType.SYMBOL:
        return "text_classifier"
    if targets == ModalityType.SYMBOL and inputs == ModalityType.SYMBOL:
        return "text2text"
    if targets == ModalityType.SYMBOL and inputs is None:
        return "language_model"
    raise ExportError(f"no serving signatures for {inputs or 'no'} inputs and {targets} targets: "
                      "t2x exports image or text classifiers, text-to-text and language models")


# ------------------------------------------------------------------ the serving module --

def _class_names(problem, data_dir, num_classes: int) -> List[str]:
    encoder = problem.get_feature_encoders(data_dir).get("targets")
    labels = getattr(encoder, "_labels", None)
    if labels and len(labels) == num_classes:
        return [str(label) for label in labels]
    return [str(i) for i in range(num_classes)]


def _signature_info(fn) -> dict:
    def spec(s):
        return {"shape": s.shape.as_list(), "dtype": s.dtype.name}

    concrete = fn.get_concrete_function()
    inputs = {s.name: spec(s) for s in concrete.structured_input_signature[1].values()} \
        if concrete.structured_input_signature[1] else \
        {s.name: spec(s) for s in concrete.structured_input_signature[0]}
    outputs = {k: spec(v) for k, v in concrete.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


def _flat_probabilities(p, num_classes: int):
    """A class-label model's ``[B, 1, (1,) K]`` probabilities as ``[B, K]``."""
    return tf.reshape(p, [-1, num_classes])


def image_module(model, problem, hparams, class_names: Sequence[str]):
    """The tf.Module whose functions are the image classifier's signatures."""
    height, width, channels = problem.image_shape
    module = tf.Module()
    module.model_variables = tf_variables(model.variables)
    names = tf.constant(list(class_names))

    def standardize(images):
        return problem.preprocess_example({"inputs": images}, Mode.PREDICT, hparams)["inputs"]

    def probabilities(images):
        return _flat_probabilities(model.infer({"inputs": standardize(images)})["probabilities"],
                                   len(class_names))

    def with_names(p):
        classes = tf.argmax(p, axis=-1)
        return {"classes": classes, "class_names": tf.gather(names, classes), "probabilities": p}

    def without_names(p):
        return {"classes": tf.argmax(p, axis=-1, output_type=tf.int32), "probabilities": p}

    def decode_one(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        return tf.ensure_shape(image, (height, width, channels))

    uint8 = tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")
    module.serving_default = tf.function(lambda images: with_names(probabilities(images)),
                                         input_signature=[uint8])
    module.predict_encoded = tf.function(
        lambda images: with_names(probabilities(tf.map_fn(
            decode_one, images, fn_output_signature=tf.TensorSpec((height, width, channels), tf.uint8)))),
        input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    module.predict_probabilities = tf.function(lambda images: without_names(probabilities(images)),
                                               input_signature=[uint8])
    module.predict_pixels = tf.function(
        lambda images: without_names(probabilities(images)),
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])

    def features(inputs):
        return {"features": model.body(model.bottom({"inputs": inputs}))}

    module.features = tf.function(
        features, input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="inputs")])
    return module, ["serving_default", "predict_encoded", "predict_probabilities", "predict_pixels", "features"]


def text_module(model, problem, data_dir: str, decode_hparams, kind: str, asset_dir: str):
    """The tf.Module of a text model's signatures (see the module docstring); returns
    (module, signature names, notes)."""
    from t2x.data import graph_text

    module = tf.Module()
    module.model_variables = tf_variables(model.variables)
    encoders = problem.get_feature_encoders(data_dir)
    source = encoders["inputs" if kind != "language_model" else "targets"]
    graph = graph_text.graph_encoder(source, asset_dir)
    target_graph = graph
    if kind == "text2text" and encoders["targets"] is not source:
        target_graph = graph_text.graph_encoder(encoders["targets"], os.path.join(asset_dir, "targets"))
    notes = []
    names = []
    ids_spec = tf.TensorSpec([None, None], tf.int64, name="inputs")
    kwargs = infer_kwargs(decode_hparams)

    if kind == "text_classifier":
        num_classes = problem.get_hparams(None, data_dir=data_dir).vocab_size["targets"]
        class_names = tf.constant(_class_names(problem, data_dir, num_classes))

        def classify(ids):
            p = _flat_probabilities(model.infer({"inputs": ids})["probabilities"], num_classes)
            classes = tf.argmax(p, axis=-1)
            return {"classes": classes, "class_names": tf.gather(class_names, classes), "probabilities": p}

        module.predict_ids = tf.function(classify, input_signature=[ids_spec])
        names = ["predict_ids"]
        if graph is not None:
            module.inputs_encoder = graph
            module.serving_default = tf.function(lambda inputs: classify(graph.encode_to_tensor(inputs)),
                                                 input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
            names = ["serving_default", "predict_ids"]
    elif kind == "text2text":
        def translate_ids(ids):
            out = model.infer({"inputs": ids}, **kwargs)
            return {"outputs": tf.cast(out["outputs"], tf.int64), "scores": out["scores"]}

        module.predict_ids = tf.function(translate_ids, input_signature=[ids_spec])
        names = ["predict_ids"]
        if graph is not None and target_graph is not None:
            module.inputs_encoder, module.targets_encoder = graph, target_graph

            def translate(inputs):
                out = translate_ids(graph.encode_to_tensor(inputs))
                return {"outputs": target_graph.decode(out["outputs"]), "scores": out["scores"]}

            text = tf.TensorSpec([None], tf.string, name="inputs")
            module.serving_default = tf.function(translate, input_signature=[text])
            module.encode = tf.function(lambda inputs: {"ids": graph.encode_to_tensor(inputs)},
                                        input_signature=[text])
            names = ["serving_default", "predict_ids", "encode"]
    else:  # language_model
        def continue_ids(prompt):
            out = model.infer({"prompt": prompt}, **kwargs)
            return {"outputs": tf.cast(out["outputs"], tf.int64), "scores": out["scores"]}

        module.predict_ids = tf.function(
            continue_ids, input_signature=[tf.TensorSpec([None, None], tf.int64, name="prompt")])
        names = ["predict_ids"]
        if graph is not None:
            module.targets_encoder = graph

            def continue_text(prompt):
                out = continue_ids(graph.encode_to_tensor(prompt, append_eos=False))
                return {"outputs": graph.decode(out["outputs"]), "scores": out["scores"]}

            module.serving_default = tf.function(
                continue_text, input_signature=[tf.TensorSpec([None], tf.string, name="prompt")])
            names = ["serving_default", "predict_ids"]
    if graph is None or target_graph is None:
        missing = source if graph is None else encoders["targets"]
        notes.append(f"No text signature: {graph_text.unsupported_reason(missing)}; "
                     "predict_ids takes and returns the vocabulary's ids.")
    return module, names, notes


# ------------------------------------------------------------------------ converters --

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
        raise ExportError(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"the tensorflowjs converter failed:\n{proc.stderr[-4000:]}")


def _tfjs_page(out_dir: str, export_info: dict) -> None:
    shutil.copy(PAGE, os.path.join(out_dir, "index.html"))
    labels = {"class_names": export_info.get("class_names"), "image_shape": export_info.get("image_shape"),
              "tfjs_version": TFJS_VERSION, "signature": "predict_pixels"}
    with open(os.path.join(out_dir, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, indent=1)


# --------------------------------------------------------------------------- export --

def size_bytes(path: str) -> int:
    """Bytes of a file, or of every file under a directory."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def is_export(path: str) -> bool:
    """``path`` is a t2x export: its ``export.json`` says which step and kind it holds."""
    try:
        with open(os.path.join(path, "export.json"), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and "step" in info and "kind" in info


def check_destination(final: str, run_path: str, overwrite: bool) -> None:
    """Refuses, before anything is written, an export directory that cannot be written or
    must not be replaced. A new or empty directory is fine; an existing one is replaced
    (with ``overwrite``) only when it is an earlier t2x export (``is_export``), and never
    when it is the run directory, a directory holding the run, or inside the run but not
    under its ``export/``."""
    run, real = os.path.realpath(run_path), os.path.realpath(final)
    default = os.path.join(run_path, "export", "<step>")
    probe = final
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        where = "is a file" if probe == final else f"goes through {probe}, a file"
        raise ExportError(f"--export_dir={final} {where}, not a directory: give a directory (a new one, or an "
                          f"earlier export's with --overwrite; default {default})")
    if probe != final:
        return  # a new directory
    if inside(run, real):
        where = "is the run directory" if real == run else f"holds the run {run}"
        raise ExportError(f"--export_dir={final} {where}: an export never replaces it; give a new or empty "
                          f"--export_dir (default {default})")
    try:
        entries = os.listdir(final)
    except OSError as e:
        raise ExportError(f"--export_dir={final} cannot be read ({e.strerror}): give a new or empty "
                          "--export_dir") from e
    if not entries:
        return  # nothing to lose
    if inside(real, run) and not inside(real, os.path.join(run, "export")):
        raise ExportError(f"--export_dir={final} is inside the run {run} but not under its export/: an export "
                          f"never replaces the run's files; give a new or empty --export_dir (default {default})")
    if not is_export(final):
        raise ExportError(f"--export_dir={final} holds {len(entries)} file(s) that are not a t2x export (no "
                          "export.json): --overwrite replaces only an earlier export; give a new or empty "
                          "--export_dir")
    if not overwrite:
        raise ExportError(f"{final} holds an earlier export: pass --overwrite to replace it, or give another "
                          "--export_dir")


def write_staged(final: str, write, *, clean_parent: bool = False) -> None:
    """``fileio.atomic_dir`` for an export: a full, read-only or unwritable destination is an
    ExportError naming it (nothing is left there)."""
    atomic_dir(final, write, clean_parent=clean_parent,
               errors=(OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError),
               on_destination_error=lambda reason: ExportError(
                   f"cannot write the export to {final}: {reason}; free space there or make it writable, "
                   "or give another --export_dir (nothing was written)"))


def _readme(info: dict) -> str:
    lines = [f"# t2x export: {info['problem']} / {info['model']} ({info['hparams_set']}), step {info['step']}", "",
             f"Checkpoint `{info['checkpoint']}`; kind `{info['kind']}`. Needs TensorFlow only:", "",
             "```python", "import tensorflow as tf",
             "model = tf.saved_model.load('saved_model')",
             "fn = model.signatures['serving_default']", "```", "", "## Signatures", ""]
    for name, sig in info["signatures"].items():
        ins = ", ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in sig["inputs"].items())
        outs = ", ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in sig["outputs"].items())
        lines.append(f"- `{name}({ins})` -> {outs}")
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in info["notes"]]
    lines += ["", "## Files", ""] + [f"- `{os.path.basename(p)}` ({fmt})" for fmt, p in info["files"].items()]
    return "\n".join(lines) + "\n"


def export(output_dir: str, *, formats: Iterable[str] = ("saved_model",), checkpoint_path: Optional[str] = None,
           export_dir: Optional[str] = None, decode_hparams: str = "", data_dir: Optional[str] = None,
           t2x_usr_dir: Optional[str] = None, overwrite: bool = False,
           representative_examples: int = 200) -> ExportResult:
    """Exports the run in ``output_dir`` (its latest checkpoint, or ``checkpoint_path``)
    in ``formats``; see the module docstring. Bad arguments fail before the model loads."""
    from t2x.model import create_model

    formats = parse_formats(formats)
    if representative_examples < 1:
        raise ExportError(f"--representative_examples={representative_examples} must be >= 1: the number of "
                          "training images that calibrate tflite_int8 (default 200)")
    decode_hp = parse_decode_hparams(decode_hparams)
    run_dir = RunDir(output_dir)
    run = run_dir.load(data_dir=data_dir, t2x_usr_dir=t2x_usr_dir)
    path = run_dir.checkpoint(checkpoint_path)
    suffix = os.path.basename(path).rpartition("-")[2]
    step = int(suffix) if suffix.isdigit() else 0
    problem_hparams = run.problem.get_hparams(run.hparams, data_dir=run.data_dir)
    kind = serving_kind(problem_hparams)
    converted = [f for f in formats if f != "saved_model"]
    if converted and kind != "image_classifier":
        raise ExportError(f"--formats={','.join(converted)}: TF Lite and TF.js exports are for image "
                          f"classifiers; {run.problem.name} is a {kind} (its decoding loop and string "
                          "signatures are SavedModel-only): use --formats=saved_model")
    if decode_hparams and kind in ("image_classifier", "text_classifier"):
        raise ExportError(f"--decode_hparams={decode_hparams} is for sequence models (text-to-text, language "
                          f"models); {run.problem.name} exports as kind {kind} (one pass, no decoding): "
                          "drop --decode_hparams")
    final = os.path.abspath(os.path.expanduser(export_dir or os.path.join(run_dir.path, "export", str(step))))
    check_destination(final, run_dir.path, overwrite)

    model = create_model(run.problem, run.model_name, run.hparams, run.data_dir)
    # RunDir's one rule: a damaged checkpoint falls back to the one before it, one rotated away
    # while being read is chosen again (once); the export is named after the step read.
    read = run_dir.read_checkpoint(lambda p: restore_weights(model, p), checkpoint_path, chosen=path)
    if read != path:
        path, suffix = read, os.path.basename(read).rpartition("-")[2]
        step = int(suffix) if suffix.isdigit() else 0
        if not export_dir:
            final = os.path.join(run_dir.path, "export", str(step))
            check_destination(final, run_dir.path, overwrite)
    logging.info("Restored %s", path)
    info = {"problem": run.problem.name, "model": run.model_name, "hparams_set": run.hparams_set,
            "hparams": run.hparams.values(),
            "step": step, "checkpoint": path, "kind": kind, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "notes": []}
    files: Dict[str, str] = {}

    def write(staging: str) -> None:
        sm_dir = os.path.join(staging, "saved_model")
        if kind == "image_classifier":
            num_classes = problem_hparams.vocab_size["targets"]
            class_names = _class_names(run.problem, run.data_dir, num_classes)
            module, names = image_module(model, run.problem, run.hparams, class_names)
            info.update(class_names=class_names, image_shape=list(run.problem.image_shape),
                        preprocessing="tf.image.per_image_standardization (inside the graph)")
        else:
            module, names, notes = text_module(model, run.problem, run.data_dir, decode_hp, kind,
                                               os.path.join(staging, "vocab"))
            info["notes"] += notes
            info["decode_hparams"] = decode_hp.values()
        signatures = {name: getattr(module, name) for name in names}
        info["signatures"] = {name: _signature_info(fn) for name, fn in signatures.items()}
        tf.saved_model.save(module, sm_dir, signatures=signatures)
        shutil.rmtree(os.path.join(staging, "vocab"), ignore_errors=True)  # copied into assets/
        files["saved_model"] = os.path.join(final, "saved_model")
        if any(f in LITE_FORMATS for f in formats):
            representative = (_representative_images(run.problem, run.data_dir, representative_examples)
                              if "tflite_int8" in formats else None)
            for fmt in (f for f in formats if f in LITE_FORMATS):
                with open(os.path.join(staging, f"{fmt}.tflite"), "wb") as f:
                    f.write(convert_tflite(sm_dir, fmt, representative))
                files[fmt] = os.path.join(final, f"{fmt}.tflite")
        if "tfjs" in formats:
            convert_tfjs(sm_dir, os.path.join(staging, "tfjs"))
            _tfjs_page(os.path.join(staging, "tfjs"), info)
            files["tfjs"] = os.path.join(final, "tfjs")
        info["files"] = files
        info["sizes_bytes"] = {fmt: size_bytes(os.path.join(staging, os.path.relpath(p, final))) for fmt, p in files.items()}
        write_text_atomic(os.path.join(staging, "export.json"), json.dumps(info, indent=1, default=str) + "\n")
        write_text_atomic(os.path.join(staging, "README.md"), _readme(info))

    write_staged(final, write, clean_parent=os.path.dirname(final) == os.path.join(run_dir.path, "export"))
    return ExportResult(export_dir=final, step=step, checkpoint=path, files=files,
                        signatures=info["signatures"], kind=kind)
