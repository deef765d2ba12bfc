"""Attention you can look at: the weights of every attention layer and head of a trained
model over the tokens of one example, as data, as a static page and as TensorBoard images.

    t2x-decoder --output_dir=RUN --decode_from_file=test.en --attention_dir=att/
    # then open att/index.html (file://, no server, no network)

What is measured. For each decoded example, one **teacher-forced** forward pass of the
model over ``inputs`` (the source ids, EOS included) and ``targets`` (the decoded output's
ids, EOS appended): the pass that scored that output, so position ``t`` of the decoder is
the one that chose output token ``t`` (reading token ``t - 1``; the first reads the
zero start). While it runs, ``t2x.layers.attention.recording_attention`` collects the
softmax weights of every ``MultiheadAttention`` call (nothing else changes: same outputs,
same variables). Each call is one of three types, told by the layer's place in the model
(``layer.path``: a layer under an ``encoder*`` block attends over the inputs, one named
``*encdec*`` from the targets to the inputs, any other is the decoder's self-attention):

* ``encoder``: encoder self-attention, queries and keys the source tokens;
* ``decoder``: decoder self-attention (causal), queries and keys the target tokens;
* ``encdec``: encoder-decoder attention, queries the target tokens, keys the source tokens.

Within a type, calls keep their order: layer 0, 1, ... for a Transformer; for a universal
transformer (one weight-tied layer applied again and again) the steps, 0, 1, ... (with ACT,
the steps its halting loop ran). Each type's weights are ``[layers, heads, queries, keys]``
float, every row summing to 1. Layers that attend without ``MultiheadAttention.attend``
(``LocalAttention1D``'s blockwise path) are not recorded.

``attention_dir`` holds (``write_attention_dir``, written whole or not at all):

* ``attention.json``: ``{"model", "problem", "checkpoint", "layer_name" ("layer" or
  "step"), "types": {type: description}, "examples": [{"index", "source", "output",
  "source_tokens", "target_tokens", "source_ids", "target_ids", "attention": {type:
  [layers][heads][queries][keys]}}]}`` (weights rounded to 6 decimals); tokens are the
  vocabulary's pieces (subwords, bytes), ids the ids the pass read (EOS included);
* ``attention.js``: the same object as ``window.T2X_ATTENTION = ...;``, so that the page
  reads it from ``file://`` with a plain ``<script>`` (no fetch);
* ``index.html``, ``attention_view.js``, ``attention_view.css``: the page (plain JS, no
  build step, no network): pick the example, the type, the layer and the head (or the
  mean of the heads) and see a heatmap (queries as rows, keys as columns, each cell
  carrying its weight in ``data-w``) or lines between the two token columns (T2T's
  attention visualisation: a line's opacity is its weight, one colour per head).

During evaluation (``t2x.training.evaluator``), ``write_attention_images`` puts the
attention of the first dev examples into TensorBoard (``attention/<type>/example_<i>``):
one grey image per type, the layers as rows and the heads as columns of a grid of maps
(white = weight 1). Models without ``MultiheadAttention`` write nothing.
"""

import json
import os
import shutil
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from t2x.errors import ConfigError
from t2x.layers.attention import MultiheadAttention, recording_attention

TYPES = {"encoder": "encoder self-attention", "decoder": "decoder self-attention",
         "encdec": "encoder-decoder attention"}
PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention_page")
PAGE_FILES = ("index.html", "attention_view.js", "attention_view.css")
DATA_FILES = ("attention.json", "attention.js")
MAX_WEIGHTS = 4_000_000  # per page (~35 MB of JSON): long documents get fewer examples
IMAGE_POSITIONS = 64  # TensorBoard maps show at most the first 64 queries and keys


class AttentionError(ConfigError):
    """``--attention_dir`` cannot be honoured: a model without attention, a directory
    that cannot be written. The message names the fix."""


# ------------------------------------------------------------------ the weights --

def attention_layers(model) -> List[MultiheadAttention]:
    """The ``MultiheadAttention`` layers of ``model`` (empty: nothing to look at)."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, MultiheadAttention)]


def attention_type(layer: MultiheadAttention) -> str:
    """``"encoder"``, ``"decoder"`` or ``"encdec"`` from the layer's place in its model
    (``layer.path`` below the model's own name; see the module docstring)."""
    places = layer.path.split("/")[1:]
    if "encdec" in layer.name:
        return "encdec"
    return "encoder" if any(p.startswith("encoder") for p in places) else "decoder"


def attention_weights(model, features: Dict[str, Any]):
    """Host, eagerly: ``model(features)`` (``training=False``) with the attention recorded.
    Returns (``{type: float32 [B, layers, heads, Lq, Lk]}`` for the types that ran,
    ``logits`` ``[B, Lt, vocab]`` as numpy)."""
    with recording_attention() as records:
        logits = model(features, training=False)
    grouped: Dict[str, List[np.ndarray]] = {}
    for layer, weights in records:
        grouped.setdefault(attention_type(layer), []).append(tf.cast(weights, tf.float32).numpy())
    return {t: np.stack(w, axis=1) for t, w in grouped.items()}, np.asarray(logits)


def teacher_forced_features(input_ids: Optional[Sequence[int]], output_ids: Sequence[int]) -> Dict[str, tf.Tensor]:
    """One example as a batch of 1: ``inputs`` as given (EOS included), ``targets`` the
    output ids with EOS appended."""
    from t2x.data.text_encoder import EOS_ID

    features = {"targets": tf.constant([list(output_ids) + [EOS_ID]], tf.int64)}
    if input_ids is not None:
        features["inputs"] = tf.constant([list(input_ids)], tf.int64)
    return features


# -------------------------------------------------------------- the directory --

def check_attention_dir(path: str) -> str:
    """Host, before the model loads: the absolute ``path`` when ``write_attention_dir``
    can make it there; else an ``AttentionError`` naming the fix (a file in the way, a
    read-only parent, a directory holding files that are not an earlier attention page,
    which the new page would replace)."""
    path = os.path.abspath(os.path.expanduser(path))
    flag = f"--attention_dir={path}"
    if os.path.exists(path) and not os.path.isdir(path):
        raise AttentionError(f"{flag} is a file: name a directory for the attention page")
    if os.path.isdir(path):
        foreign = sorted(set(os.listdir(path)) - set(PAGE_FILES) - set(DATA_FILES))
        if foreign:
            raise AttentionError(f"{flag} holds other files ({', '.join(foreign[:3])}"
                                 f"{', ...' if len(foreign) > 3 else ''}): the page replaces the whole "
                                 "directory; name a new or empty one")
    parent = os.path.dirname(path)
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise AttentionError(f"{flag} cannot be made: {parent} is a file, not a directory; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AttentionError(f"{flag} cannot be written: {parent} is read-only for this user; choose a "
                             "writable path (or make it writable)")
    return path


def check_model(model) -> None:
    """An ``AttentionError`` for a model with no ``MultiheadAttention`` to show."""
    if not attention_layers(model):
        raise AttentionError(f"--attention_dir: model {model.name} has no multi-head attention to show (the "
                             "Transformer and the universal transformer have): drop --attention_dir")


def check_decode_request(attention_dir: str, examples: int, saved_model: Optional[str],
                         interactive: bool) -> str:
    """``t2x-decoder``, before the model loads: ``--attention_dir`` with what it can work
    with (a checkpoint, decoded lines or a split, ``examples >= 1``, a writable directory).
    Returns the directory's absolute path."""
    if saved_model:
        raise AttentionError("--attention_dir needs the checkpoint: an export keeps no attention weights; "
                             "decode with --output_dir instead of --saved_model")
    if interactive:
        raise AttentionError("--attention_dir draws decoded lines or a split, not --decode_interactive: use "
                             "--decode_from_file (or --decode_split)")
    if examples < 1:
        raise AttentionError(f"--attention_examples={examples} must be >= 1 (the first N decoded examples are "
                             "drawn)")
    return check_attention_dir(attention_dir)


def check_decoder(decoder) -> None:
    """``t2x-decoder``, once the model is loaded, before decoding: a text-in decoder of a
    model with multi-head attention, else an ``AttentionError``."""
    if not getattr(type(decoder), "reads_text", False):
        raise AttentionError(f"--attention_dir draws attention over text tokens, and {decoder.problem.name} is not "
                             f"decoded from text (its decoder is a {type(decoder).__name__}): drop --attention_dir")
    check_model(decoder.model)


def write_decoded(attention_dir: str, decoder, examples: int) -> str:
    """The attention of the first ``examples`` inputs of the decoder's last ``decode_ids``
    (their first beam) in ``attention_dir``; returns the clause for the summary line."""
    inputs, outputs = decoder.last_decoded
    pairs = [(ids, beams[0]) for ids, beams in zip(inputs[:examples], outputs[:examples])]
    n = write_attention_dir(attention_dir, decoder.model, decoder.encoders, pairs, problem=decoder.problem.name,
                            checkpoint=os.path.basename(getattr(decoder, "checkpoint_path", "") or ""))
    cut = f" (the first {n} of {len(pairs)}: a page holds at most {MAX_WEIGHTS:,} weights)" if n < len(pairs) else ""
    return f"; attention of {n} example(s){cut}: open {os.path.join(attention_dir, 'index.html')}"


def token_strings(encoder, ids: Sequence[int]) -> List[str]:
    """Each id as its vocabulary piece (a subword, a token, a byte), as text."""
    pieces = encoder.decode_list(list(ids))
    return [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in pieces]


def _rounded(weights: np.ndarray) -> list:
    return np.round(weights.astype(np.float64), 6).tolist()


def example_record(model, encoders, index: int, input_ids: Optional[Sequence[int]],
                   output_ids: Sequence[int]) -> Dict[str, Any]:
    """One example of ``attention.json`` (see the module docstring)."""
    from t2x.data.text_encoder import EOS_ID

    weights, _ = attention_weights(model, teacher_forced_features(input_ids, output_ids))
    target = encoders["targets"]
    record = {"index": index, "output": target.decode(list(output_ids)),
              "target_tokens": token_strings(target, list(output_ids) + [EOS_ID]),
              "target_ids": [int(i) for i in output_ids] + [EOS_ID],
              "source": "", "source_tokens": [], "source_ids": []}
    if input_ids is not None:
        source = encoders["inputs"]
        record["source"] = source.decode([i for i in input_ids if i != EOS_ID])
        record["source_tokens"] = token_strings(source, input_ids)
        record["source_ids"] = [int(i) for i in input_ids]
    record["attention"] = {t: _rounded(w[0]) for t, w in weights.items()}
    return record


def _weight_count(attention: Dict[str, list]) -> int:
    return sum(len(w) * len(w[0]) * len(w[0][0]) * len(w[0][0][0]) for w in attention.values() if w)


def write_attention_dir(path: str, model, encoders, pairs: Sequence[tuple], *, problem: str = "",
                        checkpoint: str = "") -> int:
    """Writes ``path`` whole (``t2x.fileio.atomic_dir``): the data and the page for each
    ``(input_ids or None, output_ids)`` of ``pairs``, in order, while the weights stay within
    ``MAX_WEIGHTS`` (the first example always). Returns the number of examples written."""
    from t2x.fileio import atomic_dir

    check_model(model)
    examples, size = [], 0
    for i, (input_ids, output_ids) in enumerate(pairs):
        record = example_record(model, encoders, i, input_ids, output_ids)
        size += _weight_count(record["attention"])
        if examples and size > MAX_WEIGHTS:
            break
        examples.append(record)
    # More calls than layers: one layer applied again and again (a universal transformer).
    calls = sum(len(w) for w in examples[0]["attention"].values()) if examples else 0
    layer_name = "step" if calls > len(attention_layers(model)) else "layer"
    data = {"model": model.name, "problem": problem, "checkpoint": checkpoint, "layer_name": layer_name,
            "types": {t: d for t, d in TYPES.items() if any(t in e["attention"] for e in examples)},
            "examples": examples}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    def write(staging: str) -> None:
        with open(os.path.join(staging, "attention.json"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(staging, "attention.js"), "w", encoding="utf-8") as f:
            # "</" cannot end the script early; U+2028/2029 are not line ends in JSON.
            f.write("window.T2X_ATTENTION = " + text.replace("</", "<\\/") + ";\n")
        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(PAGE_DIR, name), os.path.join(staging, name))

    atomic_dir(path, write)
    return len(examples)


# ---------------------------------------------------------------- TensorBoard --

def attention_image(weights: np.ndarray, positions: int = IMAGE_POSITIONS) -> np.ndarray:
    """``[layers, heads, Lq, Lk]`` -> a ``uint8 [H, W, 1]`` grid: a row per layer, a column
    per head, each map the first ``positions`` queries and keys, scaled up to about 64
    pixels (nearest), white = 1, maps parted by grey lines."""
    weights = weights[:, :, :positions, :positions]
    layers, heads, lq, lk = weights.shape
    scale = max(1, 64 // max(lq, lk))
    cell = np.kron(weights, np.ones((scale, scale)))  # [layers, heads, lq*s, lk*s]
    h, w = lq * scale, lk * scale
    image = np.full((layers * (h + 1) + 1, heads * (w + 1) + 1), 0.35)
    for i in range(layers):
        for j in range(heads):
            image[1 + i * (h + 1):1 + i * (h + 1) + h, 1 + j * (w + 1):1 + j * (w + 1) + w] = cell[i, j]
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)[:, :, None]


def write_attention_images(writer, step: int, model, problem, data_dir: str, num_examples: int = 2) -> int:
    """Host, in evaluation: the attention of the first ``num_examples`` dev examples (with
    their reference targets) as TensorBoard images ``attention/<type>/example_<i>``.
    Nothing (0) for a model without ``MultiheadAttention``; returns the images written."""
    if num_examples <= 0 or not attention_layers(model):
        return 0
    from t2x.data.problem import DatasetSplit, Mode

    # the run's hparams: its features (a speech run's bins and deltas) as training made them
    ds = problem.dataset(Mode.EVAL, data_dir, model.hparams, dataset_split=DatasetSplit.EVAL, deterministic=True)
    written = 0
    with writer.as_default():
        for i, example in enumerate(ds.take(num_examples)):
            features = {k: v[None] for k, v in example.items() if k in ("inputs", "targets")}
            weights, _ = attention_weights(model, features)
            for kind, w in weights.items():
                tf.summary.image(f"attention/{kind}/example_{i}", attention_image(w[0])[None], step=step,
                                 description=f"{TYPES[kind]} of dev example {i}: layers as rows, heads as "
                                             "columns, queries down, keys across (white = 1)")
                written += 1
    writer.flush()
    return written


__all__ = ["TYPES", "AttentionError", "attention_layers", "attention_type", "attention_weights",
           "teacher_forced_features", "check_attention_dir", "check_model", "write_attention_dir",
           "attention_image", "write_attention_images"]
