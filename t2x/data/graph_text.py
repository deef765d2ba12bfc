r"""t2x's text encoders as TensorFlow ops: what an export encodes and decodes with, so that
serving needs no Python and nothing of t2x.

    graph = graph_encoder(SubwordTextEncoder("vocab.subword"), asset_dir="export/assets")
    ids = graph.encode(tf.constant(["A dog runs ."]))     # RaggedTensor [B, None] int64
    text = graph.decode(tf.constant([[57, 12, 1, 0]]))   # [B] strings, cut at EOS / 0

Each class mirrors one Python encoder of ``t2x.data.text_encoder`` id for id, with
``tf.strings``, ``tf.lookup`` and ``tf.while_loop`` only (tensorflow-text needs the full
``tensorflow`` package, which does not install beside ``tensorflow-cpu``):

* ``GraphByteEncoder`` (``vocab_type="character"``): UTF-8 bytes + 2; decoding turns invalid
  UTF-8 into U+FFFD, one per bad byte sequence (ICU's count; Python's "replace" may count
  a truncated sequence differently).
* ``GraphIntegerEncoder`` (the base ``TextEncoder``: integers + 2, the algorithmic problems).
* ``GraphTokenEncoder`` (``"token"``): whitespace split, one id per vocabulary line; an
  unknown token becomes the encoder's ``replace_oov`` token, or is dropped when it has none
  (the Python encoder raises there).
* ``GraphSubwordEncoder`` (``"subword"``, T2T's): (1) the tokenizer's split into
  alphanumeric / other runs, with RE2's ``\pL``/``\pN`` for Python's Unicode categories
  ``L*``/``N*`` (the two Unicode tables may differ on characters added in recent Unicode
  versions); (2) escaping (``\``, ``_``, characters outside the alphabet as ``\<ord>;``) and
  the ``_`` token end; (3) the greedy longest-match split, vectorised over all tokens of the
  batch, one subtoken per loop step; decoding joins the subtokens, splits at ``_``,
  unescapes and re-inserts the spaces between alphanumeric tokens.

Vocabularies travel as SavedModel assets (``vocab.<type>.txt``, one entry per line, the
line number is the id) read by ``tf.lookup.TextFileInitializer``. Inputs must be valid
UTF-8 (byte 0xFF, which UTF-8 never uses, is the split marker inside the graph).
"""

import os
from typing import List, Optional

import tensorflow as tf

from t2x.data.text_encoder import (EOS_ID, ByteTextEncoder, SubwordTextEncoder, TextEncoder,
                                   TokenTextEncoder)

_MARK = b"\xff"  # never in valid UTF-8: marks split points inside the graph
_ALNUM = r"[\pL\pN]"


def cut_at_eos(ids) -> tf.RaggedTensor:
    """``[B, L]`` decoded ids -> ragged rows up to, not including, the first EOS or 0
    (``t2x.decoding.strip_ids`` in the graph)."""
    ids = tf.convert_to_tensor(ids)
    stop = tf.logical_or(tf.equal(ids, EOS_ID), tf.equal(ids, 0))
    keep = tf.equal(tf.cumsum(tf.cast(stop, tf.int32), axis=1), 0)
    return tf.ragged.boolean_mask(ids, keep)


def _vocab_asset(lines: List[str], asset_dir: str, name: str) -> str:
    for line in lines:
        if "\n" in line or "\r" in line:
            raise ValueError(f"vocabulary entry {line!r} holds a line break: it cannot be a line of {name}")
    os.makedirs(asset_dir, exist_ok=True)
    path = os.path.join(asset_dir, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


class GraphEncoder(tf.Module):
    """``encode([B] strings) -> RaggedTensor [B, None] int64`` (no EOS) and
    ``decode([B, L] ids) -> [B] strings`` (cut at the first EOS or 0)."""

    vocab_type = ""

    def encode(self, text) -> tf.RaggedTensor:
        raise NotImplementedError

    def decode(self, ids):
        raise NotImplementedError

    def encode_to_tensor(self, text, append_eos: bool = True):
        """``[B]`` strings -> ``[B, L]`` int64 ids padded with 0 (EOS appended: the inputs
        t2x's decoder feeds the model)."""
        ids = self.encode(text)
        if append_eos:
            eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, tf.int64))
            ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return ids.to_tensor(0)


class GraphIntegerEncoder(GraphEncoder):
    """The base ``TextEncoder``: space-separated integers, shifted past the reserved ids
    (the algorithmic problems' vocabulary)."""

    vocab_type = "integer"

    def __init__(self, num_reserved_ids: int = 2):
        super().__init__()
        self.num_reserved_ids = num_reserved_ids

    def encode(self, text):
        words = tf.strings.split(tf.strings.strip(tf.convert_to_tensor(text, tf.string)))
        return tf.ragged.map_flat_values(
            lambda w: tf.strings.to_number(w, tf.int64) + self.num_reserved_ids, words)

    def decode(self, ids):
        rows = cut_at_eos(ids)
        words = tf.ragged.map_flat_values(lambda i: tf.strings.as_string(i - self.num_reserved_ids), rows)
        return tf.strings.reduce_join(words, axis=-1, separator=" ")


class _TableEncoder(GraphEncoder):
    """A vocabulary as an asset: string -> id and id -> string tables."""

    def __init__(self, tokens: List[str], asset_dir: str):
        super().__init__()
        self.vocab_size = len(tokens)
        self.vocab_file = tf.saved_model.Asset(_vocab_asset(tokens, asset_dir, f"vocab.{self.vocab_type}.txt"))
        key, line = tf.lookup.TextFileIndex.WHOLE_LINE, tf.lookup.TextFileIndex.LINE_NUMBER
        self.to_id = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(self.vocab_file, tf.string, key, tf.int64, line), -1)
        self.to_token = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(self.vocab_file, tf.int64, line, tf.string, key), "")


class GraphByteEncoder(GraphEncoder):
    vocab_type = "character"

    def __init__(self, num_reserved_ids: int = 2):
        super().__init__()
        self.num_reserved_ids = num_reserved_ids
        self.byte_strings = tf.constant([bytes((b,)) for b in range(256)])

    def encode(self, text):
        pieces = tf.strings.bytes_split(tf.convert_to_tensor(text, tf.string))
        flat = tf.reshape(tf.io.decode_raw(pieces.flat_values, tf.uint8), [-1])
        return pieces.with_flat_values(tf.cast(flat, tf.int64) + self.num_reserved_ids)

    def decode(self, ids):
        rows = cut_at_eos(ids)
        n = self.num_reserved_ids
        valid = tf.logical_and(rows >= n, rows < n + 256)
        rows = tf.ragged.boolean_mask(rows, valid)
        joined = tf.strings.reduce_join(tf.gather(self.byte_strings, rows - n), axis=-1)
        return tf.strings.unicode_transcode(joined, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD)


class GraphTokenEncoder(_TableEncoder):
    vocab_type = "token"

    def __init__(self, encoder: TokenTextEncoder, asset_dir: str):
        if encoder._reverse:
            raise ValueError("a reversed TokenTextEncoder has no graph version")
        super().__init__(encoder.tokens, asset_dir)
        oov = encoder._replace_oov
        self.oov_id = tf.constant(-1 if oov is None else encoder._token_to_id[oov], tf.int64)

    def encode(self, text):
        words = tf.strings.split(tf.strings.strip(tf.convert_to_tensor(text, tf.string)))
        ids = tf.ragged.map_flat_values(self.to_id.lookup, words)
        ids = tf.ragged.map_flat_values(lambda i: tf.where(i < 0, self.oov_id, i), ids)
        return tf.ragged.boolean_mask(ids, ids >= 0)

    def decode(self, ids):
        rows = cut_at_eos(ids)
        words = tf.ragged.map_flat_values(
            lambda i: tf.where(i < self.vocab_size, self.to_token.lookup(i),
                               tf.strings.join(["ID_", tf.strings.as_string(i)])), rows)
        return tf.strings.reduce_join(words, axis=-1, separator=" ")


class GraphSubwordEncoder(_TableEncoder):
    vocab_type = "subword"

    def __init__(self, encoder: SubwordTextEncoder, asset_dir: str):
        super().__init__(encoder.subtoken_strings, asset_dir)
        self.max_subtoken_len = int(max(len(s) for s in encoder.subtoken_strings))
        alphabet = sorted(c for c in encoder.alphabet if c != "\n")
        self.alphabet = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(alphabet), tf.ones([len(alphabet)], tf.int64)), 0)

    # -- encoding ------------------------------------------------------------------------
    def _tokens(self, text):
        """[B] -> ragged [B, T]: the tokenizer's runs, single inner spaces dropped."""
        marked = tf.strings.regex_replace(text, f"({_ALNUM}+)", _MARK + rb"\1" + _MARK)
        runs = tf.strings.split(marked, sep=_MARK)
        runs = tf.ragged.boolean_mask(runs, tf.strings.length(runs) > 0)
        position = tf.ragged.range(runs.row_lengths())
        last = tf.expand_dims(runs.row_lengths() - 1, 1)
        inner = tf.logical_and(position > 0, tf.not_equal(position, last))
        return tf.ragged.boolean_mask(runs, tf.logical_not(tf.logical_and(inner, tf.equal(runs, " "))))

    def _escape(self, tokens):
        """[N] tokens -> [N] escaped tokens ending in ``_``."""
        tokens = tf.strings.regex_replace(tokens, r"\\", r"\\\\")
        tokens = tf.strings.regex_replace(tokens, "_", r"\\u")
        chars = tf.strings.unicode_split(tokens, "UTF-8")
        codes = tf.strings.unicode_decode(tokens, "UTF-8")
        known = tf.ragged.map_flat_values(self.alphabet.lookup, chars) > 0
        spelled = tf.strings.join(["\\", tf.strings.as_string(codes), ";"])
        chars = tf.where(known, chars, spelled)
        return tf.strings.join([tf.strings.reduce_join(chars, axis=-1), "_"])

    def _split(self, escaped):
        """[N] escaped tokens -> ragged [N, None] subtoken ids: greedy longest match."""
        lengths = tf.strings.length(escaped, unit="UTF8_CHAR")
        steps = tf.reduce_max(tf.concat([lengths, [0]], 0))
        n = tf.shape(escaped)[0]

        def step(i, pos, ids, counts):
            best_id = tf.fill([n], tf.constant(-1, tf.int64))
            best_len = tf.zeros([n], tf.int32)
            start = tf.minimum(pos, lengths)  # finished tokens: substr must stay in range
            for k in range(self.max_subtoken_len, 0, -1):
                piece = tf.strings.substr(escaped, start, tf.fill([n], k), unit="UTF8_CHAR")
                found = self.to_id.lookup(piece)
                take = (pos + k <= lengths) & (found >= 0) & (best_len == 0)
                best_id = tf.where(take, found, best_id)
                best_len = tf.where(take, k, best_len)
            active = pos < lengths
            ids = ids.write(i, tf.where(active, best_id, 0))
            counts = counts + tf.cast(active, tf.int32)
            return i + 1, pos + tf.maximum(best_len, 1), ids, counts

        _, _, ids, counts = tf.while_loop(
            lambda i, *_: i < steps, step,
            (0, tf.zeros([n], tf.int32), tf.TensorArray(tf.int64, size=steps), tf.zeros([n], tf.int32)))
        dense = tf.transpose(tf.reshape(ids.stack(), [steps, n]))
        return tf.RaggedTensor.from_tensor(dense, lengths=counts)

    def encode(self, text):
        tokens = self._tokens(tf.convert_to_tensor(text, tf.string))
        subtokens = self._split(self._escape(tokens.flat_values))
        return tf.RaggedTensor.from_row_lengths(subtokens, tokens.row_lengths()).merge_dims(1, 2)

    # -- decoding ------------------------------------------------------------------------
    def _unescape(self, escaped):
        r"""[N] escaped tokens (without ``_``) -> [N] tokens: ``\u`` -> ``_``, ``\\`` -> ``\``,
        ``\<digits>;`` -> the character (U+3013 when it is none, as T2T)."""
        marked = tf.strings.regex_replace(escaped, r"\\(u|\\|[0-9]+;)", _MARK + rb"\1" + _MARK)
        parts = tf.strings.split(marked, sep=_MARK)
        is_escape = tf.equal(tf.math.floormod(tf.ragged.range(parts.row_lengths()), 2), 1)
        digits = tf.strings.regex_replace(parts, ";$", "")
        def to_number(d):
            numeric = tf.strings.regex_full_match(d, "[0-9]{1,7}")
            return tf.where(numeric, tf.strings.to_number(tf.where(numeric, d, "0"), tf.int32), -1)

        number = tf.ragged.map_flat_values(to_number, digits)
        valid = tf.logical_and(number >= 0, number <= 0x10FFFF)
        valid = tf.logical_and(valid, tf.logical_not(tf.logical_and(number >= 0xD800, number <= 0xDFFF)))
        code = tf.where(valid, number, 0x3013)
        char = tf.strings.unicode_encode(tf.expand_dims(code.flat_values, 1), "UTF-8")
        char = parts.with_flat_values(char)
        replaced = tf.where(tf.equal(parts, "u"), "_", tf.where(tf.equal(parts, "\\"), "\\", char))
        return tf.strings.reduce_join(tf.where(is_escape, replaced, parts), axis=-1)

    def decode(self, ids):
        rows = cut_at_eos(ids)
        pieces = tf.ragged.map_flat_values(
            lambda i: tf.where(i < self.vocab_size, self.to_token.lookup(i), ""), rows)
        joined = tf.strings.reduce_join(pieces, axis=-1)
        tokens = tf.strings.split(joined, sep="_")
        tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
        tokens = tokens.with_flat_values(self._unescape(tokens.flat_values))
        tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
        alnum = tf.strings.regex_full_match(tokens, f"(?s){_ALNUM}.*")
        previous = tf.concat([tf.zeros_like(alnum[:, :1]), alnum[:, :-1]], axis=1)
        spaced = tf.where(tf.logical_and(alnum, previous), tf.strings.join([" ", tokens]), tokens)
        return tf.strings.reduce_join(spaced, axis=-1)


def graph_encoder(encoder: TextEncoder, asset_dir: str) -> Optional[GraphEncoder]:
    """The graph version of ``encoder`` (its vocabulary written under ``asset_dir``), or
    None for an encoder type that has none (``unsupported_reason`` says why)."""
    if isinstance(encoder, ByteTextEncoder):
        return GraphByteEncoder(encoder.num_reserved_ids)
    if isinstance(encoder, SubwordTextEncoder):
        return GraphSubwordEncoder(encoder, asset_dir)
    if isinstance(encoder, TokenTextEncoder):
        return None if encoder._reverse else GraphTokenEncoder(encoder, asset_dir)
    if type(encoder) is TextEncoder:
        return GraphIntegerEncoder(encoder.num_reserved_ids)
    return None


def unsupported_reason(encoder: TextEncoder) -> str:
    if type(encoder).__name__ == "SentencePieceEncoder":
        return ("SentencePiece has no graph version here: its in-graph tokenizer is tensorflow-text's "
                "SentencepieceTokenizer, and tensorflow-text 2.21 requires the full tensorflow package, "
                "which cannot be installed beside tensorflow-cpu")
    if isinstance(encoder, TokenTextEncoder):
        return "a reversed TokenTextEncoder (reverse=True) has no graph version"
    return (f"{type(encoder).__name__} has no graph version (t2x has one for ByteTextEncoder, "
            "TextEncoder (integers), TokenTextEncoder and SubwordTextEncoder)")
