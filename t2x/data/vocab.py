"""Building and loading a text problem's vocabulary by ``vocab_type``: the one place text
problems and TFDS problems share.

* ``character``: UTF-8 bytes (``ByteTextEncoder``), no file;
* ``subword``: T2T's ``SubwordTextEncoder``, about ``approx_vocab_size`` entries;
* ``token``: the ``approx_vocab_size - 3`` most frequent whitespace tokens plus ``<UNK>``;
* ``sentencepiece``: a SentencePiece model (unigram by default, ``sentencepiece_model_type``
  ``bpe`` too) of ``approx_vocab_size`` pieces, trained with ``pad_id=0``, ``eos_id=1``
  (t2x's reserved ids), ``unk_id=2`` and no BOS; the file is the binary ``.model``.

Built from the train split's texts only, stored once in ``data_dir`` (atomically) and reused.
"""

import collections
import os
from typing import Iterable, List, Sequence

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
          sentencepiece_model_type: str = "unigram") -> None:
    """Builds the vocabulary file ``path`` from ``texts`` (nothing for ``character``)."""
    check_type(vocab_type)
    if vocab_type == "character":
        return
    if vocab_type == "subword":
        SubwordTextEncoder.build_from_generator(texts, approx_vocab_size).store_to_file(path)
    elif vocab_type == "token":
        counts = collections.Counter(tok for text in texts for tok in text.split())
        words = [w for w, _ in counts.most_common(max(approx_vocab_size - 3, 1))]
        TokenTextEncoder(None, vocab_list=[UNK] + words, replace_oov=UNK).store_to_file(path)
    else:
        build_sentencepiece(texts, path, approx_vocab_size, sentencepiece_model_type)


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
