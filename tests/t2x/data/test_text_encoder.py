"""Tests for t2x.data.text_encoder and t2x.data.tokenizer (T2T's text encoders)."""

import random

import pytest

from t2x.data import text_encoder as te
from t2x.data import tokenizer

_WORDS = ("the cat sat on a mat while dogs ran quickly across green fields and birds "
          "sang songs of summer rain falling softly over old stone bridges near the river "
          "children played games laughing loudly as their parents watched from wooden benches "
          "under tall trees whose leaves turned golden in autumn light").split()


def _corpus(n_lines=400, seed=0):
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 12))]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        punct = rng.choice([".", "!", "?", ",", "...", " -", "'s"])
        lines.append(" ".join(words) + punct)
    # A few numbers and underscores / backslashes so escaping shows up in training.
    lines += ["item_%d costs %d.%02d dollars" % (i, i * 3, i % 100) for i in range(60)]
    lines += ["path\\to\\file_%d" % i for i in range(10)]
    return lines


@pytest.fixture(scope="module")
def subword():
    return te.SubwordTextEncoder.build_from_generator(_corpus(), 200)


def _random_unicode(rng, max_len=30):
    """Random strings: code points from every plane (surrogates included), ASCII,
    whitespace runs, punctuation, underscores and backslashes."""
    pieces = []
    for _ in range(rng.randint(0, max_len)):
        r = rng.random()
        if r < 0.25:
            pieces.append(chr(rng.randint(0, 0x10FFFF)))
        elif r < 0.4:
            pieces.append(chr(rng.randint(0x80, 0xFFFF)))
        elif r < 0.6:
            pieces.append(rng.choice(_WORDS))
        elif r < 0.75:
            pieces.append(rng.choice([" ", "  ", "\n", "\t", "\r\n", " \n ", "\u3000", "\x0b"]))
        else:
            pieces.append(rng.choice(list("_\\;u0123456789.,!?'\"-<>") + ["<pad>", "<EOS>"]))
    return "".join(pieces)


# --- constants / base ----------------------------------------------------------------------

def test_reserved_ids():
    assert te.PAD_ID == 0 and te.EOS_ID == 1
    assert te.RESERVED_TOKENS == ["<pad>", "<EOS>"]
    base = te.TextEncoder()
    assert base.encode("0 5") == [2, 7]
    assert base.decode([0, 1, 2, 7]) == "<pad> <EOS> 0 5"


# --- bytes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("s", ["", "hello world", "naïve café", "日本語のテキスト", "emoji 😀👍🏽 ok",
                               "tab\tnew\nline", "\x00\x7f"])
def test_byte_round_trip(s):
    enc = te.ByteTextEncoder()
    ids = enc.encode(s)
    assert ids == [b + 2 for b in s.encode("utf-8")]
    assert all(2 <= i < enc.vocab_size for i in ids)
    assert enc.decode(ids) == s


def test_byte_encoder_details():
    enc = te.ByteTextEncoder()
    assert enc.vocab_size == 258
    assert enc.encode("A") == [65 + 2]
    # Invalid UTF-8 (a lone continuation byte, a truncated sequence) -> U+FFFD, as T2T.
    assert enc.decode([0x80 + 2]) == "\ufffd"
    assert enc.decode(enc.encode("é")[:1]) == "\ufffd"
    # Reserved ids decode to their names; strip_extraneous drops them.
    assert enc.decode([0, 1]) == "<pad><EOS>"
    assert enc.decode(enc.encode("hi") + [1, 0], strip_extraneous=True) == "hi"
    assert enc.decode_list(enc.encode("hi") + [1]) == [b"h", b"i", b"<EOS>"]
    with pytest.raises(ValueError):
        enc.decode([258])


# --- tokens ---------------------------------------------------------------------------------

def test_token_encoder_from_list():
    enc = te.TokenTextEncoder(vocab_list=["<pad>", "hello", "world", "<UNK>"])
    # Reserved tokens are prepended (and dropped from the list).
    assert enc.vocab_size == 5
    assert enc.encode("hello world") == [2, 3]
    assert enc.encode("  hello   world \n") == [2, 3]
    assert enc.decode([2, 3]) == "hello world"
    assert enc.decode([0, 2, 1]) == "<pad> hello <EOS>"
    assert enc.decode([2, 1, 0], strip_extraneous=True) == "hello"
    assert enc.decode_list([2, 99]) == ["hello", "ID_99"]


def test_token_encoder_oov():
    enc = te.TokenTextEncoder(vocab_list=["hello", "world", "<UNK>"])
    with pytest.raises(ValueError) as e:
        enc.encode("hello there")
    assert "'there'" in str(e.value) and "replace_oov" in str(e.value)
    enc = te.TokenTextEncoder(vocab_list=["hello", "world", "<UNK>"], replace_oov="<UNK>")
    assert enc.encode("hello there world") == [2, 4, 3]
    with pytest.raises(ValueError, match="replace_oov"):
        te.TokenTextEncoder(vocab_list=["hello"], replace_oov="<UNK>")


def test_token_encoder_file_and_reverse(tmp_path):
    enc = te.TokenTextEncoder(vocab_list=["a", "b", "c"])
    path = str(tmp_path / "vocab.tokens")
    enc.store_to_file(path)
    with open(path, encoding="utf-8") as f:
        assert f.read() == "<pad>\n<EOS>\na\nb\nc\n"
    loaded = te.TokenTextEncoder(path)
    assert loaded.vocab_size == 5
    assert loaded.encode("c a b") == enc.encode("c a b") == [4, 2, 3]
    rev = te.TokenTextEncoder(path, reverse=True)
    assert rev.encode("c a b") == [3, 2, 4]
    assert rev.decode(rev.encode("c a b")) == "c a b"
    with pytest.raises(ValueError):
        te.TokenTextEncoder()


# --- tokenizer ------------------------------------------------------------------------------

def test_tokenizer_examples():
    assert tokenizer.encode("Dude - that's so cool.") == [
        "Dude", " - ", "that", "'", "s", "so", "cool", "."]
    assert tokenizer.encode("") == []
    assert tokenizer.encode(" a b ") == [" ", "a", "b", " "]
    assert tokenizer.encode("a  b") == ["a", "  ", "b"]
    assert tokenizer.encode("日本語 テキスト123") == ["日本語", "テキスト123"]
    assert tokenizer.decode(["hello", "world", "!"]) == "hello world!"


@pytest.mark.parametrize("s", [
    "", " ", "  ", "a", " a", "a ", "hello world", "Hello, World!!", "a  b   c",
    "line one\nline two\n\n", "tabs\tand\ttabs", "x - y", "...", "'quoted' \"words\"",
    "mixed123numbers and_underscores", "naïve café — “quotes”", "中文 字符 和 English",
    " leading and trailing ", "😀 😀😀 a😀b", "\u3000ideographic\u3000space",
])
def test_tokenizer_invertible(s):
    toks = tokenizer.encode(s)
    assert tokenizer.decode(toks) == s
    assert "".join(toks).replace(" ", "") == s.replace(" ", "")


def test_tokenizer_invertible_random():
    rng = random.Random(1)
    for _ in range(300):
        s = _random_unicode(rng)
        assert tokenizer.decode(tokenizer.encode(s)) == s


def test_corpus_token_counts():
    counts = tokenizer.corpus_token_counts(["a b a.", " b "])
    assert counts == {"a": 2, "b": 2, ".": 1}


# --- subword: escaping ------------------------------------------------------------------------

def test_escape_token():
    alphabet = set("abcdefghijklmnopqrstuvwxyz ") | te._ESCAPE_CHARS
    assert te._escape_token("foo_bar\\", alphabet) == "foo\\ubar\\\\_"
    assert te._escape_token("foo", alphabet) == "foo_"
    assert te._escape_token("Aé", alphabet) == "\\65;\\233;_"
    assert te._escape_token("a\nb", alphabet | {"\n"}) == "a\\10;b_"  # newline always escaped
    for tok in ["foo_bar\\", "Aé", "x\\u12;_", "😀", "\\\\__", "\\65;"]:
        assert te._unescape_token(te._escape_token(tok, alphabet)) == tok
    assert te._unescape_token("\\99999999999;_") == "\u3013"
    with pytest.raises(ValueError):
        te._escape_token(b"bytes", alphabet)


# --- subword: building and encoding -------------------------------------------------------------

def test_subword_target_size(subword):
    assert abs(subword.vocab_size - 200) <= 20, subword.vocab_size
    strings = subword.subtoken_strings
    assert strings[:2] == ["<pad>", "<EOS>"]
    assert len(strings) == subword.vocab_size == len(set(strings))
    # The whole alphabet, escape characters included, is in the vocabulary.
    assert set(subword.alphabet) <= set(strings)
    assert te._ESCAPE_CHARS <= set(strings)


def test_subword_encode_decode(subword):
    for line in _corpus(50, seed=7):
        ids = subword.encode(line)
        assert ids and all(2 <= i < subword.vocab_size for i in ids)
        assert subword.decode(ids) == line
    # Frequent words become single subtokens.
    assert subword.decode_list(subword.encode("the")) == ["the_"]
    assert subword.encode("") == []
    assert subword.decode([]) == ""
    # Reserved ids: names unless stripped; out-of-range ids decode to nothing.
    ids = subword.encode("the cat")
    assert subword.decode(ids + [1, 0], strip_extraneous=True) == "the cat"
    assert subword.decode(ids + [10 ** 6]) == "the cat"


def test_subword_round_trip_random_unicode(subword):
    rng = random.Random(1234)
    alphabet = subword.alphabet
    unseen = 0
    for _ in range(200):
        s = _random_unicode(rng)
        unseen += any(c not in alphabet for c in s)
        ids = subword.encode(s)
        assert all(2 <= i < subword.vocab_size for i in ids), s
        assert subword.decode(ids) == s, repr(s)
    assert unseen > 100  # the test really exercises characters unseen in training


def test_subword_reserved_never_emitted(subword):
    for s in ["<pad>", "<EOS>", "x<EOS>y", "<pad><EOS>"]:
        ids = subword.encode(s)
        assert 0 not in ids and 1 not in ids
        assert subword.decode(ids) == s
    ids = subword.encode_without_tokenizing("<EOS>")
    assert 0 not in ids and 1 not in ids
    assert subword.decode(ids) == "<EOS>"


def test_encode_without_tokenizing(subword):
    ids = subword.encode_without_tokenizing("the cat")
    assert subword.decode(ids) == "the cat"
    assert "".join(subword.decode_list(ids)).endswith("_")
    assert "_" not in "".join(subword.decode_list(ids))[:-1]
    assert ids != subword.encode("the cat")


def test_subword_vocab_file_round_trip(subword, tmp_path):
    path = str(tmp_path / "vocab.subwords")
    subword.store_to_file(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[:2] == ["'<pad>'", "'<EOS>'"] and lines[-1] == ""
    assert all(l.startswith("'") and l.endswith("'") for l in lines[:-1])
    loaded = te.SubwordTextEncoder(path)
    assert loaded.subtoken_strings == subword.subtoken_strings
    assert loaded.vocab_size == subword.vocab_size
    rng = random.Random(5)
    texts = _corpus(50, seed=3) + [_random_unicode(rng) for _ in range(50)]
    for s in texts:
        assert loaded.encode(s) == subword.encode(s)
        assert loaded.decode(loaded.encode(s)) == s
    # Unquoted format loads too.
    path2 = str(tmp_path / "vocab2.subwords")
    subword.store_to_file(path2, add_single_quotes=False)
    loaded2 = te.SubwordTextEncoder(path2)
    for s in texts[:50]:
        assert loaded2.encode(s) == subword.encode(s)
    with pytest.raises(ValueError, match="not found"):
        te.SubwordTextEncoder(str(tmp_path / "missing"))


def test_subword_vocab_file_odd_characters(tmp_path):
    # Subtokens with spaces, quotes, \r and other line separators survive the file.
    lines = ["a\rb c", "it's \"q\"", "x\u2028y\x0bz", "  padded  "] * 20
    enc = te.SubwordTextEncoder.build_from_generator(lines, 50)
    path = str(tmp_path / "odd.subwords")
    enc.store_to_file(path)
    loaded = te.SubwordTextEncoder(path)
    assert loaded.subtoken_strings == enc.subtoken_strings
    for s in lines[:4]:
        assert loaded.encode(s) == enc.encode(s)
        assert loaded.decode(loaded.encode(s)) == s


def test_build_from_token_counts_and_reserved():
    counts = tokenizer.corpus_token_counts(_corpus(100))
    enc = te.SubwordTextEncoder()
    enc.build_from_token_counts(counts, min_count=5, num_iterations=2,
                                reserved_tokens=["<pad>", "<EOS>", "<mask>"])
    assert enc.subtoken_strings[:3] == ["<pad>", "<EOS>", "<mask>"]
    ids = enc.encode("the cat <mask>")
    assert min(ids) >= 3 and enc.decode(ids) == "the cat <mask>"
    with pytest.raises(ValueError, match="prefix"):
        enc.build_from_token_counts(counts, 5, reserved_tokens=["<EOS>", "<pad>"])
    # Higher min_count -> smaller vocabulary.
    small = te.SubwordTextEncoder()
    small.build_from_token_counts(counts, min_count=50)
    assert small.vocab_size < enc.vocab_size


def test_build_to_target_size_and_max_subtoken_length():
    counts = tokenizer.corpus_token_counts(_corpus(200))
    enc = te.SubwordTextEncoder.build_to_target_size(150, counts, 1, 1000)
    assert abs(enc.vocab_size - 150) <= 15
    short = te.SubwordTextEncoder.build_from_generator(_corpus(200), 150, max_subtoken_length=3)
    assert max(len(s) for s in short.subtoken_strings[2:]) <= 3
    line = _corpus(1, seed=9)[0]
    assert short.decode(short.encode(line)) == line
    with pytest.raises(ValueError):
        te.SubwordTextEncoder.build_to_target_size(100, counts, 10, 1)
    with pytest.raises(ValueError):
        te.SubwordTextEncoder.build_to_target_size(0, counts, 1, 10)
