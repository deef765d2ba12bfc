"""T2T's simple invertible tokenizer (``tensor2tensor/data_generators/tokenizer.py``).

Text is split at every boundary between an alphanumeric character (Unicode category
``L*`` or ``N*``) and a non-alphanumeric one, giving alternating runs. A run made of a
single space that is neither the first nor the last token is dropped: it is implied
by two adjacent alphanumeric tokens, and ``decode`` puts it back.

    encode("Dude - that's so cool.")
      -> ["Dude", " - ", "that", "'", "s", "so", "cool", "."]

``decode(encode(s)) == s`` for every string ``s``.
"""

import collections
import unicodedata
from typing import Dict, Iterable, List

_ALNUM_CACHE: Dict[str, bool] = {}


def is_alnum(c: str) -> bool:
    """True when ``c`` is a letter or a number by its Unicode category (T2T's set)."""
    r = _ALNUM_CACHE.get(c)
    if r is None:
        r = unicodedata.category(c)[0] in ("L", "N")
        _ALNUM_CACHE[c] = r
    return r


def encode(text: str) -> List[str]:
    """Split a unicode string into alphanumeric / non-alphanumeric tokens."""
    if not text:
        return []
    ret = []
    token_start = 0
    flags = [is_alnum(c) for c in text]
    for pos in range(1, len(text)):
        if flags[pos] != flags[pos - 1]:
            token = text[token_start:pos]
            if token != " " or token_start == 0:
                ret.append(token)
            token_start = pos
    ret.append(text[token_start:])
    return ret


def decode(tokens: Iterable[str]) -> str:
    """Inverse of :func:`encode`: join, with one space between adjacent alphanumeric tokens."""
    parts = []
    prev_alnum = False
    for i, token in enumerate(tokens):
        cur_alnum = bool(token) and is_alnum(token[0])
        if i > 0 and prev_alnum and cur_alnum:
            parts.append(" ")
        parts.append(token)
        prev_alnum = cur_alnum
    return "".join(parts)


def corpus_token_counts(lines: Iterable[str], max_lines: int = 0,
                        split_on_newlines: bool = True) -> Dict[str, int]:
    """Token counts over ``lines`` (stripped each when ``split_on_newlines``, else joined
    into one document), reading at most ``max_lines`` lines when it is positive."""
    counts: Dict[str, int] = collections.defaultdict(int)
    docs = []
    for n, line in enumerate(lines):
        if max_lines > 0 and n >= max_lines:
            break
        docs.append(line.strip() if split_on_newlines else line)
    if not split_on_newlines:
        docs = ["".join(docs)]
    for doc in docs:
        for tok in encode(doc):
            counts[tok] += 1
    return dict(counts)
