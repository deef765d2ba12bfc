"""translate_ende_multi30k and languagemodel_ptb10k on tiny files in their real formats."""

import gzip
import hashlib
import os
import time

import pytest

from t2x import registry
from t2x.data.download import DownloadError
from t2x.data.problem import Mode
from t2x.problems.text import LanguagemodelPtb10k, TranslateEndeMulti30k


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def test_multi30k_splits_and_subword_vocab(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    pairs = {"train": [("A man rides a horse.", "Ein Mann reitet ein Pferd."),
                       ("Two dogs play.", "Zwei Hunde spielen.")] * 10,
             "val": [("A dog runs.", "Ein Hund rennt.")],
             "test_2016_flickr": [("A horse.", "Ein Pferd."), ("Dogs.", "Hunde.")]}
    table = {}
    for prefix, rows in pairs.items():
        for i, lang in enumerate(("en", "de")):
            path = raw / f"{prefix}.{lang}.gz"
            write_gz(str(path), [r[i] for r in rows])
            table[path.name] = sha(path)

    class Tiny(TranslateEndeMulti30k):
        registered_name = "tiny_multi30k"
        approx_vocab_size = 80
        files = table
        mirrors = ("http://127.0.0.1:9/",)

    problem = Tiny()
    problem.generate_data(str(tmp_path / "data"), str(raw))
    counts = {split: len(list(problem.dataset(Mode.EVAL, str(tmp_path / "data"), dataset_split=split)))
              for split in ("train", "dev", "test")}
    assert counts == {"train": 20, "dev": 1, "test": 2}
    encoder = problem.get_feature_encoders(str(tmp_path / "data"))["targets"]
    ex = next(iter(problem.dataset(Mode.EVAL, str(tmp_path / "data"))))
    assert encoder.decode(ex["targets"].numpy()[:-1].tolist()) == "Ein Hund rennt."
    assert encoder.decode(ex["inputs"].numpy()[:-1].tolist()) == "A dog runs."


def test_ptb_token_vocab_and_offline_error(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    texts = {"ptb.train.txt": " the cat sat \n the <unk> sat on N \n",
             "ptb.valid.txt": " the cat \n", "ptb.test.txt": " a cat \n"}
    for name, text in texts.items():
        (raw / name).write_text(text)

    class Tiny(LanguagemodelPtb10k):
        registered_name = "tiny_ptb"
        files = {name: sha(raw / name) for name in texts}
        mirrors = ("http://127.0.0.1:9/",)

    problem = Tiny()
    problem.generate_data(str(tmp_path / "data"), str(raw))
    encoder = problem.get_feature_encoders(str(tmp_path / "data"))["targets"]
    test = next(iter(problem.dataset(Mode.EVAL, str(tmp_path / "data"), dataset_split="test")))
    assert encoder.decode(test["targets"].numpy().tolist()) == "<UNK> cat <EOS>"  # 'a' unseen in train
    assert problem.get_hparams(data_dir=str(tmp_path / "data")).modality == {"targets": "symbol"}

    monkeypatch.setenv("T2X_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"cannot download 3 file\(s\).*ptb.train.txt"):
        registry.problem("languagemodel_ptb10k").generate_data(str(tmp_path / "d2"), str(tmp_path / "empty"))
    assert time.monotonic() - start < 10
    assert not os.path.exists(tmp_path / "d2") or not os.listdir(tmp_path / "d2")


def test_sentiment_imdb_reads_the_archive_in_its_real_layout(tmp_path):
    import io
    import tarfile

    from t2x.problems.text import SentimentImdb

    raw = tmp_path / "raw"
    raw.mkdir()
    reviews = {"aclImdb/train/pos/0_9.txt": "A wonderful film.<br /><br />Loved it.",
               "aclImdb/train/neg/1_2.txt": "Dull and far too long.",
               "aclImdb/train/unsup/2_0.txt": "Unlabelled, never read.",
               "aclImdb/test/pos/3_8.txt": "Wonderful acting.",
               "aclImdb/test/neg/4_1.txt": "Too long.",
               "aclImdb/README": "not a review"}
    archive = raw / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in reviews.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    class Tiny(SentimentImdb):
        registered_name = "tiny_imdb"
        approx_vocab_size = 60
        files = {archive.name: sha(archive)}
        mirrors = ("http://127.0.0.1:9/",)

    problem = Tiny()
    samples = sorted(problem.generate_samples(None, str(raw), "train"), key=lambda s: s["label"])
    assert samples == [{"inputs": "Dull and far too long.", "label": 0},
                       {"inputs": "A wonderful film. Loved it.", "label": 1}]
    problem.generate_data(str(tmp_path / "data"), str(raw))
    dev = list(problem.dataset(Mode.EVAL, str(tmp_path / "data")))
    encoder = problem.get_feature_encoders(str(tmp_path / "data"))["inputs"]
    decoded = sorted((int(ex["targets"].numpy()[0]), encoder.decode(ex["inputs"].numpy()[:-1].tolist()))
                     for ex in dev)
    assert decoded == [(0, "Too long."), (1, "Wonderful acting.")]
    assert problem.get_hparams(data_dir=str(tmp_path / "data")).modality == {
        "inputs": "symbol", "targets": "class_label"}
    assert registry.problem("sentiment_imdb").files["aclImdb_v1.tar.gz"].startswith("c40f74a1")
