"""Encoders between readable values and integer ids (T2T's ``text_encoder``).

Ids 0 and 1 are reserved in every text vocabulary: ``PAD_ID = 0`` pads batches and is
ignored by losses, ``EOS_ID = 1`` ends sequences. Class labels are not text and use
their own ids from 0.

Encoders: ``TextEncoder`` (ints as text), ``ByteTextEncoder`` (UTF-8 bytes),
``TokenTextEncoder`` (whitespace tokens, fixed vocabulary), ``SubwordTextEncoder``
(T2T's invertible subword vocabulary), ``ClassLabelEncoder``.
"""

import collections
import logging
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence

from t2x import fileio
from t2x.data import tokenizer

_log = logging.getLogger(__name__)

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


RESERVED_TOKENS_BYTES = [t.encode("ascii") for t in RESERVED_TOKENS]


def _read_lines(filename: str) -> List[str]:
    r"""Lines of a UTF-8 file, split on ``\n`` only (a ``\r`` inside a token survives)."""
    with open(filename, "r", encoding="utf-8", newline="\n") as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]


class ByteTextEncoder(TextEncoder):
    """Each UTF-8 byte is one id, shifted past the reserved ids (vocab 256 + 2)."""

    def encode(self, s: str) -> List[int]:
        n = self._num_reserved_ids
        return [b + n for b in s.encode("utf-8")]

    def _bytes(self, ids, strip_extraneous):
        n = self._num_reserved_ids
        out = []
        for i in ids:
            i = int(i)
            if 0 <= i < n:
                if not strip_extraneous:
                    out.append(RESERVED_TOKENS_BYTES[i] if i < len(RESERVED_TOKENS_BYTES)
                               else b"<reserved_%d>" % i)
            elif n <= i < n + 256:
                out.append(bytes((i - n,)))
            else:
                raise ValueError(f"id {i} is outside the byte vocabulary [0, {self.vocab_size})")
        return out

    def decode(self, ids: Sequence[int], strip_extraneous: bool = False) -> str:
        """Bytes back to text; invalid UTF-8 becomes U+FFFD (``errors="replace"``, as T2T)."""
        return b"".join(self._bytes(ids, strip_extraneous)).decode("utf-8", "replace")

    def decode_list(self, ids: Sequence[int], strip_extraneous: bool = False) -> List[bytes]:
        """One ``bytes`` object per id (a byte, or the reserved token's name), as T2T."""
        return self._bytes(ids, strip_extraneous)

    @property
    def vocab_size(self) -> int:
        return 2 ** 8 + self._num_reserved_ids


class TokenTextEncoder(TextEncoder):
    """Whitespace-separated tokens from a fixed vocabulary (a file or a list).

    As in T2T: a list gets the reserved tokens prepended (and any reserved token in it
    dropped); a file is taken as is, one token per line (it normally starts with
    ``<pad>`` and ``<EOS>``, which ``store_to_file`` writes). ``reverse`` reverses the
    ids on encode and the tokens on decode. Unknown tokens raise ``ValueError`` unless
    ``replace_oov`` names a vocabulary token to put in their place.
    """

    def __init__(self, vocab_filename: Optional[str] = None, reverse: bool = False,
                 vocab_list: Optional[Sequence[str]] = None, replace_oov: Optional[str] = None,
                 num_reserved_ids: int = NUM_RESERVED_TOKENS):
        super().__init__(num_reserved_ids=num_reserved_ids)
        if (vocab_filename is None) == (vocab_list is None):
            raise ValueError("give exactly one of vocab_filename and vocab_list")
        self._reverse = reverse
        self._replace_oov = replace_oov
        if vocab_filename is not None:
            self._init_vocab([t.strip() for t in _read_lines(vocab_filename)],
                             add_reserved_tokens=False)
        else:
            self._init_vocab([t for t in vocab_list if t not in RESERVED_TOKENS],
                             add_reserved_tokens=True)
        if replace_oov is not None and replace_oov not in self._token_to_id:
            raise ValueError(f"replace_oov token {replace_oov!r} is not in the vocabulary")

    def _init_vocab(self, tokens: Sequence[str], add_reserved_tokens: bool) -> None:
        start = 0
        self._id_to_token: Dict[int, str] = {}
        if add_reserved_tokens:
            self._id_to_token.update(enumerate(RESERVED_TOKENS))
            start = len(RESERVED_TOKENS)
        self._id_to_token.update(enumerate(tokens, start=start))
        self._token_to_id = {t: i for i, t in self._id_to_token.items()}

    def encode(self, s: str) -> List[int]:
        ids = []
        for tok in s.strip().split():
            i = self._token_to_id.get(tok)
            if i is None:
                if self._replace_oov is None:
                    raise ValueError(
                        f"token {tok!r} is not in the vocabulary ({self.vocab_size} tokens); "
                        f"pass replace_oov=<a vocabulary token such as '<UNK>'> to map "
                        f"unknown tokens to it")
                i = self._token_to_id[self._replace_oov]
            ids.append(i)
        return ids[::-1] if self._reverse else ids

    def decode(self, ids: Sequence[int], strip_extraneous: bool = False) -> str:
        return " ".join(self.decode_list(ids, strip_extraneous))

    def decode_list(self, ids: Sequence[int], strip_extraneous: bool = False) -> List[str]:
        seq = [int(i) for i in ids]
        if strip_extraneous:
            seq = [i for i in seq if i >= self._num_reserved_ids]
        if self._reverse:
            seq = seq[::-1]
        return [self._id_to_token.get(i, "ID_%d" % i) for i in seq]

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    @property
    def tokens(self) -> List[str]:
        return [self._id_to_token[i] for i in range(len(self._id_to_token))]

    def store_to_file(self, filename: str) -> None:
        """One token per line, reserved tokens included, file ending in a newline."""
        fileio.write_lines_atomic(filename, self.tokens)


# ---------------------------------------------------------------------------------------
# Subword encoder (T2T's SubwordTextEncoder).

# Unescaping: "\u" -> "_", "\\" -> "\", "\<digits>;" -> chr(digits).
_UNESCAPE_REGEX = re.compile(r"\\u|\\\\|\\([0-9]+);")
# Characters the escapes are written with: always in the alphabet.
_ESCAPE_CHARS = set("\\_u;0123456789")


def _escape_token(token: str, alphabet) -> str:
    r"""Escape ``\`` as ``\\``, ``_`` as ``\u``, and every character that is not in
    ``alphabet`` (and always ``\n``) as ``\<ord>;``; then append the ``_`` sentinel."""
    if not isinstance(token, str):
        raise ValueError(f"expected str for token, got {type(token)}")
    token = token.replace("\\", "\\\\").replace("_", "\\u")
    ret = [c if c in alphabet and c != "\n" else "\\%d;" % ord(c) for c in token]
    return "".join(ret) + "_"


def _unescape_token(escaped_token: str) -> str:
    r"""Inverse of :func:`_escape_token` (a trailing ``_`` is dropped)."""

    def match(m):
        if m.group(1) is None:
            return "_" if m.group(0) == "\\u" else "\\"
        try:
            return chr(int(m.group(1)))
        except (ValueError, OverflowError):
            return "\u3013"  # GETA MARK: undefined character, as T2T.

    trimmed = escaped_token[:-1] if escaped_token.endswith("_") else escaped_token
    return _UNESCAPE_REGEX.sub(match, trimmed)


class SubwordTextEncoder(TextEncoder):
    r"""Invertible encoding of any text with a limited subword vocabulary (T2T's).

    Encoding: (1) :mod:`t2x.data.tokenizer` splits text into alphanumeric and
    non-alphanumeric tokens; (2) each token is escaped (:func:`_escape_token`), so that it
    ends in ``_`` and has no other ``_``, and characters outside the alphabet become
    ``\<ord>;``; (3) each escaped token is split greedily into the longest vocabulary
    subtokens matching from the left; (4) the lists are concatenated. The trailing ``_``
    marks token ends, so decoding is exact: ``decode(encode(s)) == s`` for every string.

    Ids ``0`` and ``1`` are ``<pad>`` and ``<EOS>``; reserved tokens are never produced
    by ``encode``.
    """

    def __init__(self, filename: Optional[str] = None):
        self._alphabet = set()
        self.filename = filename
        self._all_subtoken_strings: List[str] = []
        self._subtoken_string_to_id: Dict[str, int] = {}
        self._num_reserved = 0
        self._max_subtoken_len = 0
        self._cache: Dict[str, List[int]] = {}
        super().__init__(num_reserved_ids=NUM_RESERVED_TOKENS)
        if filename is not None:
            self._load_from_file(filename)

    # --- encoding / decoding -------------------------------------------------------------

    def encode(self, s: str) -> List[int]:
        """Text -> subtoken ids (never the reserved ids)."""
        return self._tokens_to_subtoken_ids(tokenizer.encode(s))

    def encode_without_tokenizing(self, token_text: str) -> List[int]:
        """Treat ``token_text`` as one token (no tokenizer) and return its subtoken ids."""
        return self._tokens_to_subtoken_ids([token_text])

    def decode(self, ids: Sequence[int], strip_extraneous: bool = False) -> str:
        """Subtoken ids -> text. Ids out of range decode to nothing; reserved ids decode
        to their names (as T2T) unless ``strip_extraneous``."""
        if strip_extraneous:
            ids = [i for i in ids if int(i) >= self._num_reserved_ids]
        return tokenizer.decode(self._subtoken_ids_to_tokens(ids))

    def decode_list(self, ids: Sequence[int], strip_extraneous: bool = False) -> List[str]:
        if strip_extraneous:
            ids = [i for i in ids if int(i) >= self._num_reserved_ids]
        return [self._subtoken_id_to_subtoken_string(int(i)) for i in ids]

    @property
    def vocab_size(self) -> int:
        return len(self._all_subtoken_strings)

    @property
    def subtoken_strings(self) -> List[str]:
        return list(self._all_subtoken_strings)

    @property
    def all_subtoken_strings(self):
        return tuple(self._all_subtoken_strings)

    @property
    def alphabet(self):
        return frozenset(self._alphabet)

    def _tokens_to_subtoken_ids(self, tokens: Iterable[str]) -> List[int]:
        ret = []
        for token in tokens:
            ret.extend(self._token_to_subtoken_ids(token))
        return ret

    def _token_to_subtoken_ids(self, token: str) -> List[int]:
        ids = self._cache.get(token)
        if ids is None:
            ids = self._escaped_token_to_subtoken_ids(_escape_token(token, self._alphabet))
            if len(self._cache) >= 2 ** 18:
                self._cache.clear()
            self._cache[token] = ids
        return ids

    def _subtoken_ids_to_tokens(self, subtokens: Sequence[int]) -> List[str]:
        concatenated = "".join(self._subtoken_id_to_subtoken_string(int(s)) for s in subtokens)
        ret = []
        for t in concatenated.split("_"):
            if t:
                unescaped = _unescape_token(t + "_")
                if unescaped:
                    ret.append(unescaped)
        return ret

    def _subtoken_id_to_subtoken_string(self, subtoken: int) -> str:
        if 0 <= subtoken < self.vocab_size:
            return self._all_subtoken_strings[subtoken]
        return ""

    def _escaped_token_to_subtoken_strings(self, escaped_token: str) -> List[str]:
        """Greedy: at each position take the longest vocabulary subtoken that matches."""
        ret = []
        start = 0
        n = len(escaped_token)
        vocab = self._subtoken_string_to_id
        max_len = self._max_subtoken_len
        while start < n:
            for end in range(min(n, start + max_len), start, -1):
                sub = escaped_token[start:end]
                if sub in vocab:
                    ret.append(sub)
                    start = end
                    break
            else:
                # Cannot happen: every escaped character is in the alphabet, and every
                # alphabet character is a subtoken.
                raise AssertionError(
                    f"no subtoken matches {escaped_token[start:]!r}: the vocabulary lacks "
                    f"a character of its own alphabet")
        return ret

    def _escaped_token_to_subtoken_ids(self, escaped_token: str) -> List[int]:
        vocab = self._subtoken_string_to_id
        return [vocab[s] for s in self._escaped_token_to_subtoken_strings(escaped_token)]

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build_from_generator(cls, generator: Iterable[str], target_size: int,
                             max_subtoken_length: Optional[int] = None,
                             reserved_tokens: Optional[Sequence[str]] = None
                             ) -> "SubwordTextEncoder":
        """Count the tokens of the generated texts, then :meth:`build_to_target_size`
        with the minimum count bisected in ``[1, 1000]``."""
        token_counts: Dict[str, int] = collections.defaultdict(int)
        for item in generator:
            for tok in tokenizer.encode(item):
                token_counts[tok] += 1
        return cls.build_to_target_size(target_size, token_counts, 1, 1000,
                                        max_subtoken_length=max_subtoken_length,
                                        reserved_tokens=reserved_tokens)

    @classmethod
    def build_to_target_size(cls, target_size: int, token_counts: Dict[str, int],
                             min_val: int, max_val: int, num_iterations: int = 4,
                             max_subtoken_length: Optional[int] = None,
                             reserved_tokens: Optional[Sequence[str]] = None
                             ) -> "SubwordTextEncoder":
        """Bisect the minimum subtoken count in ``[min_val, max_val]`` until the vocabulary
        size is within 1 % of ``target_size`` (T2T's rule) or the interval is exhausted;
        return the closest encoder seen."""
        if min_val > max_val:
            raise ValueError("lower bound for the minimum token count is greater than the upper bound")
        if target_size < 1:
            raise ValueError("target size must be positive")
        min_val, max_val = int(min_val), int(max_val)

        def bisect(lo, hi):
            present = (lo + hi) // 2
            enc = cls()
            enc.build_from_token_counts(token_counts, present, num_iterations,
                                        reserved_tokens=reserved_tokens,
                                        max_subtoken_length=max_subtoken_length)
            _log.info("min_count %d -> vocab_size %d", present, enc.vocab_size)
            is_ok = abs(enc.vocab_size - target_size) * 100 < target_size
            if is_ok or lo >= hi or present < 2:
                return enc
            if enc.vocab_size > target_size:
                other = bisect(present + 1, hi)
            else:
                other = bisect(lo, present - 1)
            if abs(other.vocab_size - target_size) < abs(enc.vocab_size - target_size):
                return other
            return enc

        return bisect(min_val, max_val)

    def build_from_token_counts(self, token_counts: Dict[str, int], min_count: int,
                                num_iterations: int = 4,
                                reserved_tokens: Optional[Sequence[str]] = None,
                                max_subtoken_length: Optional[int] = None) -> None:
        """Learn the vocabulary from ``{token: count}`` (T2T's algorithm).

        The alphabet is every character of the tokens and reserved tokens plus the escape
        characters. Each iteration segments every escaped token with the current
        vocabulary, counts (weighted by the token count) every substring starting at a
        segment boundary, keeps candidates with ``count >= min_count`` from the longest
        down (subtracting an accepted candidate's count from its prefixes), then adds the
        whole alphabet and sorts by count.
        """
        if reserved_tokens is None:
            reserved_tokens = list(RESERVED_TOKENS)
        else:
            reserved_tokens = list(reserved_tokens)
            if reserved_tokens[:len(RESERVED_TOKENS)] != RESERVED_TOKENS:
                raise ValueError(f"RESERVED_TOKENS {RESERVED_TOKENS} must be a prefix of "
                                 f"reserved_tokens, got {reserved_tokens}")
        if min_count < 1:
            min_count = 1
        self._init_alphabet_from_tokens(list(token_counts) + reserved_tokens)
        self._init_subtokens_from_list(sorted(self._alphabet), reserved_tokens=reserved_tokens)

        for it in range(num_iterations):
            subtoken_counts: Dict[str, int] = collections.defaultdict(int)
            for token, count in token_counts.items():
                escaped = _escape_token(token, self._alphabet)
                subtokens = self._escaped_token_to_subtoken_strings(escaped)
                start = 0
                last_full = len(escaped) + 1
                for subtoken in subtokens:
                    last = last_full
                    if max_subtoken_length is not None:
                        last = min(last, start + max_subtoken_length)
                    for end in range(start + 1, last):
                        subtoken_counts[escaped[start:end]] += count
                    start += len(subtoken)

            by_len: List[List[str]] = []
            for s, c in subtoken_counts.items():
                if c >= min_count:
                    ls = len(s)
                    while len(by_len) <= ls:
                        by_len.append([])
                    by_len[ls].append(s)

            new_subtokens = []
            for ls in range(len(by_len) - 1, 0, -1):
                for s in by_len[ls]:
                    c = subtoken_counts[s]
                    if c >= min_count:
                        if s not in self._alphabet:
                            new_subtokens.append((c, s))
                        for p in range(1, ls):
                            subtoken_counts[s[:p]] -= c
            new_subtokens.extend((subtoken_counts.get(a, 0), a) for a in self._alphabet)
            new_subtokens.sort(reverse=True)
            self._init_subtokens_from_list([s for _, s in new_subtokens],
                                           reserved_tokens=reserved_tokens)
            _log.debug("iteration %d: vocab_size %d", it, self.vocab_size)

    def _init_alphabet_from_tokens(self, tokens: Iterable[str]) -> None:
        self._alphabet = {c for token in tokens for c in token}
        self._alphabet |= _ESCAPE_CHARS

    def _init_subtokens_from_list(self, subtoken_strings: Sequence[str],
                                  reserved_tokens: Optional[Sequence[str]] = None) -> None:
        """Vocabulary = reserved tokens + ``subtoken_strings``. Reserved tokens get their
        ids but are left out of matching, so text never encodes to them."""
        reserved_tokens = list(reserved_tokens or [])
        subtoken_strings = [s for s in subtoken_strings]
        self._all_subtoken_strings = reserved_tokens + subtoken_strings
        self._num_reserved = len(reserved_tokens)
        self._max_subtoken_len = max([len(s) for s in subtoken_strings] or [0])
        self._subtoken_string_to_id = {}
        for i, s in enumerate(subtoken_strings):
            if s and s not in self._subtoken_string_to_id:
                self._subtoken_string_to_id[s] = i + self._num_reserved
        self._cache = {}

    # --- files -------------------------------------------------------------------------------

    def _load_from_lines(self, lines: Iterable[str]) -> None:
        strings = []
        for line in lines:
            # Lines are split on "\n" only and not stripped: unquoted subtokens keep
            # their spaces (T2T stripped them, which loses subtokens such as " - _").
            s = line
            if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
                s = s[1:-1]
            strings.append(s)
        n_res = 0
        while n_res < len(RESERVED_TOKENS) and n_res < len(strings) \
                and strings[n_res] == RESERVED_TOKENS[n_res]:
            n_res += 1
        if n_res not in (0, len(RESERVED_TOKENS)):
            n_res = 0
        self._init_subtokens_from_list(strings[n_res:], reserved_tokens=strings[:n_res])
        self._init_alphabet_from_tokens(strings)

    def _load_from_file(self, filename: str) -> None:
        if not os.path.exists(filename):
            raise ValueError(f"vocabulary file {filename} not found")
        self._load_from_lines(_read_lines(filename))

    def store_to_file(self, filename: str, add_single_quotes: bool = True) -> None:
        """One subtoken per line, reserved tokens first, each in single quotes by default
        (T2T's vocab format)."""
        if add_single_quotes:
            fileio.write_lines_atomic(filename, ("'" + s + "'" for s in self._all_subtoken_strings))
        else:
            fileio.write_lines_atomic(filename, self._all_subtoken_strings)
