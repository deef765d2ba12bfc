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
import time
from typing import Dict, Iterable, List, Optional

import tensorflow as tf
from absl import logging

from t2x.data.problem import problem_kind
from t2x.errors import ConfigError
from t2x.export.formats import FORMATS
from t2x.export.kinds import SERVING_KINDS, ExportContext, _signature_info
from t2x.fileio import atomic_dir, first_existing, inside, write_text_atomic
from t2x.inference.decoder import parse_decode_hparams
from t2x.runs.checkpoints import restore_weights
from t2x.runs.run_dir import RunDir



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
    if any(FORMATS[n].convert is not None for n in names) and "saved_model" not in names:
        names = ["saved_model"] + names  # the others are converted from it
    return list(dict.fromkeys(names))


def serving_kind(problem_hparams) -> str:
    """The problem's kind (``t2x.data.specs.problem_kind``) when the export has signatures
    for it (``SERVING_KINDS``), else an ExportError."""
    kind = problem_kind(problem_hparams)
    if kind not in SERVING_KINDS:
        modality = problem_hparams.modality
        raise ExportError(f"no serving signatures for {modality.get('inputs') or 'no'} inputs and "
                          f"{modality.get('targets')} targets (kind {kind}): t2x exports "
                          f"{', '.join(sorted(SERVING_KINDS))}")
    return kind


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
    probe = first_existing(final)
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
    serving = SERVING_KINDS[kind]
    unsupported = [f for f in formats if f not in serving.formats]
    if unsupported:
        raise ExportError(f"--formats={','.join(unsupported)}: TF Lite and TF.js exports are for image "
                          f"classifiers; {run.problem.name} is a {kind} (it exports as "
                          f"{','.join(serving.formats)}): use --formats={','.join(serving.formats)}")
    if decode_hparams and not serving.decodes:
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
        ctx = ExportContext(model=model, problem=run.problem, hparams=run.hparams, problem_hparams=problem_hparams,
                            data_dir=run.data_dir, decode_hparams=decode_hp, staging=staging,
                            representative_examples=representative_examples, info=info)
        module, names, extra, notes = serving.build(ctx)
        info.update(extra)
        info["notes"] += notes
        signatures = {name: getattr(module, name) for name in names}
        info["signatures"] = {name: _signature_info(fn) for name, fn in signatures.items()}
        tf.saved_model.save(module, sm_dir, signatures=signatures)
        shutil.rmtree(os.path.join(staging, "vocab"), ignore_errors=True)  # copied into assets/
        files["saved_model"] = os.path.join(final, "saved_model")
        for fmt in formats:
            if FORMATS[fmt].convert is not None:
                written = FORMATS[fmt].convert(ctx, sm_dir)
                files[fmt] = os.path.join(final, os.path.relpath(written, staging))
        info["files"] = files
        info["sizes_bytes"] = {fmt: size_bytes(os.path.join(staging, os.path.relpath(p, final))) for fmt, p in files.items()}
        write_text_atomic(os.path.join(staging, "export.json"), json.dumps(info, indent=1, default=str) + "\n")
        write_text_atomic(os.path.join(staging, "README.md"), _readme(info))

    write_staged(final, write, clean_parent=os.path.dirname(final) == os.path.join(run_dir.path, "export"))
    return ExportResult(export_dir=final, step=step, checkpoint=path, files=files,
                        signatures=info["signatures"], kind=kind)
