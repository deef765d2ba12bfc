"""Building and loading a text problem's vocabulary by ``vocab_type``: the one place text
problems and TFDS problems share.

* ``character``: UTF-8 bytes (``ByteTextEncoder``), no file;
* ``subword``: T2T's ``SubwordTextEncoder``, about ``approx_vocab_size`` entries;
* ``token``: the ``approx_vocab_size - 3`` most frequent whitespace tokens plus ``<UNK>``;
* ``sentencepiece``: a SentencePiece model (unigram by default, ``sentencepiece_model_type``
  ``bpe`` too) of ``approx_vocab_size`` pieces, trained with ``pad_id=0``, ``eos_id=1``
  (t2x's reserved ids), ``unk_id=2`` and no BOS; the file is the binary ``.model``.

Built from the train split's texts only, stored once in ``data_dir`` (atomically) and reused.

At scale (T2T's ``file_byte_budget``): a subword vocabulary needs a sample of the corpus, not
all of it. ``spread_lines`` reads about ``byte_budget`` bytes of a text file as short runs of
lines at ``SPREAD_WINDOWS`` evenly spaced offsets (seeks: the time does not grow with the
file); ``spread_sample`` keeps evenly spaced items of any stream (every ``stride``-th, the
stride doubling whenever the kept texts pass the budget: one pass, memory within the
budget). Both fill a ``stats`` dict (lines, bytes, method) that ``write_record`` stores next
to the vocabulary as ``<vocab>.json`` with the build's settings and seconds.
"""

import collections
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from t2x import fileio
from t2x.data.text_encoder import (EOS_ID, PAD_ID, ByteTextEncoder, SubwordTextEncoder, TextEncoder,
                                   TokenTextEncoder)
from t2x.errors import ConfigError

VOCAB_TYPES = ("character", "subword", "token", "sentencepiece")
UNK = "<UNK>"


class SentencePieceEncoder(TextEncoder):
    """A trained SentencePiece model; ids 0/1 are PAD/EOS as everywhere in t2x."""

    def __init__(self, model_file: str):
        import sentencepiece

        super().__init__()
        self.filename = model_file
        self._sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        if self._sp.pad_id() != PAD_ID or self._sp.eos_id() != EOS_ID:
            raise ValueError(f"{model_file}: pad/eos ids are {self._sp.pad_id()}/{self._sp.eos_id()}, "
                             f"t2x needs {PAD_ID}/{EOS_ID} (train it with vocab.build_sentencepiece)")

    def encode(self, s: str) -> List[int]:
        return list(self._sp.encode(s))

    def decode(self, ids: Sequence[int], strip_extraneous: bool = False) -> str:
        del strip_extraneous  # PAD and EOS decode to nothing in SentencePiece
        size = self.vocab_size
        return self._sp.decode([int(i) for i in ids if 0 <= int(i) < size and int(i) not in (PAD_ID, EOS_ID)])

    def decode_list(self, ids: Sequence[int], strip_extraneous: bool = False) -> List[str]:
        return [self._sp.id_to_piece(int(i)) for i in ids if not strip_extraneous or int(i) > EOS_ID]

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()


def build_sentencepiece(texts: Iterable[str], path: str, vocab_size: int, model_type: str = "unigram") -> None:
    """Trains a SentencePiece model on ``texts`` into ``path`` (atomically)."""
    import sentencepiece

    if model_type not in ("unigram", "bpe"):
        raise ConfigError(f"sentencepiece_model_type must be unigram or bpe, got {model_type!r}")
    with fileio.atomic_path(path) as tmp:
        prefix = tmp + "-spm"
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=(t for t in texts if t.strip()), model_prefix=prefix, vocab_size=vocab_size,
                model_type=model_type, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=2, bos_id=-1,
                hard_vocab_limit=False, character_coverage=1.0, input_sentence_size=1_000_000,
                shuffle_input_sentence=True, minloglevel=2)
            os.replace(prefix + ".model", tmp)
        finally:
            for ext in (".model", ".vocab"):
                if os.path.exists(prefix + ext):
                    os.remove(prefix + ext)


def build(vocab_type: str, texts: Iterable[str], path: str, approx_vocab_size: int,
          sentencepiece_model_type: str = "unigram", max_subtoken_length: Optional[int] = None) -> int:
    """Builds the vocabulary file ``path`` from ``texts`` (nothing for ``character``); returns
    its size. ``max_subtoken_length`` (subword only, T2T's) bounds the subtokens considered:
    the build's time grows with the square of it."""
    check_type(vocab_type)
    if vocab_type == "character":
        return ByteTextEncoder().vocab_size
    if vocab_type == "subword":
        encoder = SubwordTextEncoder.build_from_generator(texts, approx_vocab_size,
                                                          max_subtoken_length=max_subtoken_length)
        encoder.store_to_file(path)
        return encoder.vocab_size
    if vocab_type == "token":
        counts = collections.Counter(tok for text in texts for tok in text.split())
        words = [w for w, _ in counts.most_common(max(approx_vocab_size - 3, 1))]
        encoder = TokenTextEncoder(None, vocab_list=[UNK] + words, replace_oov=UNK)
        encoder.store_to_file(path)
        return encoder.vocab_size
    build_sentencepiece(texts, path, approx_vocab_size, sentencepiece_model_type)
    return SentencePieceEncoder(path).vocab_size


# ------------------------------------------------------------------ sampling at scale --
SPREAD_WINDOWS = 1000  # evenly spaced runs of lines that spread_lines reads from a file


def spread_lines(path: str, byte_budget: int, stats: Dict[str, Any]) -> Iterator[str]:
    """At most ``byte_budget`` bytes of the lines of text file ``path`` (the non-empty ones,
    stripped, are yielded), as runs of lines starting at ``SPREAD_WINDOWS`` evenly spaced
    offsets (a run starts at the first line boundary after its offset and reads until the
    runs so far hold their share of the budget). Reads little more than it yields, with seeks; a
    gzipped file, one no larger than the budget, or ``byte_budget <= 0`` is read whole
    (through ``spread_sample``). Fills ``stats`` as it goes."""
    size = os.path.getsize(path)
    stats.update(source=path, size_bytes=size)
    if path.endswith(".gz") or byte_budget <= 0 or size <= byte_budget:
        import gzip

        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            yield from spread_sample(([line] for line in f), byte_budget, stats)
        return
    byte_budget = int(byte_budget)
    windows = max(1, min(SPREAD_WINDOWS, byte_budget // 256))
    lines = read = 0
    with open(path, "rb") as f:
        for w in range(windows):
            start, end = w * size // windows, (w + 1) * size // windows
            f.seek(start)
            if start:
                f.readline()  # the rest of a line that began before this window
            quota = (w + 1) * byte_budget // windows  # what the windows so far may have read
            taken = 0
            while f.tell() < end:
                raw = f.readline()
                # A line longer than a window's share is taken when it opens its window
                # and the whole budget still holds it.
                if not raw or (read + len(raw) > quota and (taken or read + len(raw) > byte_budget)):
                    break
                taken += 1
                read += len(raw)
                text = raw.decode("utf-8", "replace").strip()
                if text:
                    lines += 1
                    yield text
    stats.update(method=f"spread: {windows} evenly spaced runs of lines", lines=lines, bytes=read)


def spread_sample(items: Iterable[Sequence[str]], byte_budget: int, stats: Dict[str, Any]) -> Iterator[str]:
    """The texts of evenly spaced items of ``items`` (each a sequence of texts: one sample's
    inputs and targets stay together) within ``byte_budget`` UTF-8 bytes: every
    ``stride``-th item, the stride doubling (and every other kept item dropped) whenever the
    kept texts pass the budget. One pass; memory within the budget. ``byte_budget <= 0``
    yields every text as it comes (nothing held). Empty texts are skipped (texts are
    stripped). Fills ``stats`` once the items are exhausted."""
    seen = 0
    if byte_budget <= 0:
        lines = size = 0
        for seen, item in enumerate(items, 1):
            for text in item:
                text = text.strip()
                if text:
                    lines, size = lines + 1, size + len(text.encode("utf-8"))
                    yield text
        stats.update(method="all", items=seen, lines=lines, bytes=size)
        return
    stride, kept, kept_bytes = 1, [], 0
    for i, item in enumerate(items):
        seen = i + 1
        if i % stride:
            continue
        texts = [t for t in (text.strip() for text in item) if t]
        kept.append((texts, sum(len(t.encode("utf-8")) for t in texts)))
        kept_bytes += kept[-1][1]
        while kept_bytes > byte_budget and len(kept) > 1:
            kept, stride = kept[::2], stride * 2
            kept_bytes = sum(b for _, b in kept)
    stats.update(method=f"spread: every {stride}th item" if stride > 1 else "all", items=seen,
                 lines=sum(len(t) for t, _ in kept), bytes=kept_bytes)
    for texts, _ in kept:
        yield from texts


def record_path(vocab_path: str) -> str:
    """Where the record of how ``vocab_path`` was built is kept: ``<vocab>.json``."""
    return vocab_path + ".json"


def write_record(vocab_path: str, record: Dict[str, Any]) -> None:
    """Writes ``record`` (settings, sources read, seconds) as ``<vocab>.json``, atomically."""
    fileio.write_text_atomic(record_path(vocab_path), json.dumps(record, indent=2, sort_keys=True) + "\n")


def load(vocab_type: str, path: str) -> TextEncoder:
    check_type(vocab_type)
    if vocab_type == "character":
        return ByteTextEncoder()
    if vocab_type == "subword":
        return SubwordTextEncoder(path)
    if vocab_type == "token":
        return TokenTextEncoder(path, replace_oov=UNK)
    return SentencePieceEncoder(path)


def check_type(vocab_type: str) -> None:
    if vocab_type not in VOCAB_TYPES:
        raise ConfigError(f"vocab_type must be one of {', '.join(VOCAB_TYPES)}, got {vocab_type!r}")
