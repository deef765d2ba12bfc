"""Encoders between readable values and integer ids (T2T's ``text_encoder``).

Ids 0 and 1 are reserved in every text vocabulary: ``PAD_ID = 0`` pads batches and is
ignored by losses, ``EOS_ID = 1`` ends sequences. Class labels are not text and use
their own ids from 0.
"""

from typing import List, Optional, Sequence

PAD = "<pad>"
EOS = "<EOS>"
RESERVED_TOKENS = [PAD, EOS]
NUM_RESERVED_TOKENS = len(RESERVED_TOKENS)
PAD_ID = RESERVED_TOKENS.index(PAD)  # 0
EOS_ID = RESERVED_TOKENS.index(EOS)  # 1


class TextEncoder:
    """Base encoder: ids are the integers of a space-separated string, shifted past the
    reserved ids (T2T's default). Subclasses override ``encode``/``decode``/``vocab_size``."""

    def __init__(self, num_reserved_ids: int = NUM_RESERVED_TOKENS):
        self._num_reserved_ids = num_reserved_ids

    @property
    def num_reserved_ids(self) -> int:
        return self._num_reserved_ids

    def encode(self, s: str) -> List[int]:
        return [int(w) + self._num_reserved_ids for w in s.split()]

    def decode(self, ids: Sequence[int], strip_extraneous: bool = False) -> str:
        return " ".join(self.decode_list(ids, strip_extraneous))

    def decode_list(self, ids: Sequence[int], strip_extraneous: bool = False) -> List[str]:
        out = []
        for i in ids:
            i = int(i)
            if strip_extraneous and i < self._num_reserved_ids:
                continue
            out.append(RESERVED_TOKENS[i] if 0 <= i < self._num_reserved_ids
                       else str(i - self._num_reserved_ids))
        return out

    @property
    def vocab_size(self) -> Optional[int]:
        return None


class ClassLabelEncoder(TextEncoder):
    """Class names <-> ids ``0..n-1`` (no reserved ids)."""

    def __init__(self, class_labels: Sequence[str]):
        super().__init__(num_reserved_ids=0)
        self._labels = [str(c) for c in class_labels]
        if len(set(self._labels)) != len(self._labels):
            raise ValueError(f"class labels must be unique: {self._labels}")
        self._index = {c: i for i, c in enumerate(self._labels)}

    def encode(self, label_str: str) -> int:
        if label_str not in self._index:
            raise ValueError(f"unknown class label {label_str!r}; known: {', '.join(self._labels[:20])}")
        return self._index[label_str]

    def decode(self, ids, strip_extraneous: bool = False) -> str:
        del strip_extraneous
        if isinstance(ids, (list, tuple)) or hasattr(ids, "shape") and getattr(ids, "shape", ()) != ():
            ids = list(ids)
            if len(ids) != 1:
                raise ValueError(f"a class label is one id, got {ids}")
            ids = ids[0]
        return self._labels[int(ids)]

    def decode_list(self, ids, strip_extraneous: bool = False) -> List[str]:
        del strip_extraneous
        return [self._labels[int(i)] for i in ids]

    @property
    def vocab_size(self) -> int:
        return len(self._labels)

    @property
    def class_labels(self) -> List[str]:
        return list(self._labels)
