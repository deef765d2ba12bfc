"""Text problem bases on a tiny corpus made here."""

import os

import pytest

from t2x.data.text_problems import Text2ClassProblem, Text2SelfProblem, Text2TextProblem
from t2x.data.problem import Mode, SplitSpec

TRAIN = [("the cat sat on the mat", "die katze sass auf der matte"),
         ("the dog sat on the log", "der hund sass auf dem baumstamm"),
         ("a cat and a dog", "eine katze und ein hund")] * 20
DEV = [("the xylophone sat", "das xylophon sass")]


def make(vocab_type, base=Text2TextProblem, **attrs):
    class Tiny(base):
        registered_name = f"tiny_text_{vocab_type}_{base.__name__.lower()}"
        approx_vocab_size = 60
        dataset_splits = property(lambda self: [SplitSpec("train", 2), SplitSpec("dev", 1)])

        def generate_samples(self, data_dir, tmp_dir, dataset_split):
            for src, tgt in (TRAIN if dataset_split == "train" else DEV):
                if base is Text2SelfProblem:
                    yield {"targets": tgt}
                elif base is Text2ClassProblem:
                    yield {"inputs": src, "label": int("dog" in src)}
                else:
                    yield {"inputs": src, "targets": tgt}

    Tiny.vocab_type = vocab_type
    for k, v in attrs.items():
        setattr(Tiny, k, v)
    return Tiny()


@pytest.mark.parametrize("vocab_type", ["subword", "token", "character", "sentencepiece"])
def test_text2text_round_trip_and_eos(vocab_type, tmp_path):
    problem = make(vocab_type)
    problem.generate_data(str(tmp_path), str(tmp_path / "tmp"))
    vocab = os.path.join(tmp_path, problem.vocab_filename)
    assert os.path.exists(vocab) == (vocab_type != "character")
    encoders = problem.get_feature_encoders(str(tmp_path))
    dev = list(problem.dataset(Mode.EVAL, str(tmp_path), deterministic=True))
    assert len(dev) == 1
    inputs, targets = dev[0]["inputs"].numpy(), dev[0]["targets"].numpy()
    assert inputs[-1] == 1 and targets[-1] == 1 and 0 not in inputs and 0 not in targets
    decoded = encoders["targets"].decode(targets[:-1].tolist())
    if vocab_type == "token":
        assert decoded == "<UNK> <UNK> sass"  # dev-only words are not in a train-built vocab
    elif vocab_type == "sentencepiece":  # unseen characters (x, y, l...) are SentencePiece's unk
        assert decoded == "das  \u2047 lo \u2047 hon sass"  # x and y: never seen in train
    else:
        assert decoded == "das xylophon sass"
    info = problem.get_hparams(data_dir=str(tmp_path))
    assert info.modality == {"inputs": "symbol", "targets": "symbol"}
    assert info.vocab_size["inputs"] == encoders["inputs"].vocab_size


def test_vocab_is_built_from_train_only_and_reused(tmp_path):
    problem = make("subword")
    problem.generate_data(str(tmp_path), str(tmp_path / "tmp"))
    encoder = problem.get_feature_encoders(str(tmp_path))["targets"]
    subtokens = set(encoder.all_subtoken_strings)
    assert "xylophon_" not in subtokens and "y" not in subtokens  # dev-only
    assert any(s.startswith("katze") for s in subtokens) or "k" in subtokens
    path = os.path.join(tmp_path, problem.vocab_filename)
    mtime = os.stat(path).st_mtime_ns
    for f in os.listdir(tmp_path):
        if "-train-" in f:
            os.remove(os.path.join(tmp_path, f))
    make("subword").generate_data(str(tmp_path), str(tmp_path / "tmp"))
    assert os.stat(path).st_mtime_ns == mtime  # reused, ids never change under a model


def test_text2self_and_text2class(tmp_path):
    lm = make("character", Text2SelfProblem)
    lm.generate_data(str(tmp_path / "lm"), str(tmp_path / "tmp"))
    ex = next(iter(lm.dataset(Mode.EVAL, str(tmp_path / "lm"))))
    assert set(ex) == {"targets"} and lm.get_hparams(data_dir=str(tmp_path / "lm")).modality == {"targets": "symbol"}
    cls = make("token", Text2ClassProblem)
    cls.generate_data(str(tmp_path / "cls"), str(tmp_path / "tmp"))
    labels = [int(e["targets"].numpy()[0]) for e in
              cls.dataset(Mode.EVAL, str(tmp_path / "cls"), dataset_split="train", deterministic=True)]
    assert sorted(set(labels)) == [0, 1] and len(labels) == 60
    hp = cls.get_hparams(data_dir=str(tmp_path / "cls"))
    assert hp.modality["targets"] == "class_label" and hp.vocab_size["targets"] == 2


def test_not_per_split_deals_one_stream_over_train_and_dev(tmp_path):
    problem = make("character", is_generate_per_split=False)
    problem.generate_data(str(tmp_path), str(tmp_path / "tmp"))
    train = list(problem.dataset(Mode.EVAL, str(tmp_path), dataset_split="train"))
    dev = list(problem.dataset(Mode.EVAL, str(tmp_path)))
    assert (len(train), len(dev)) == (40, 20)  # 60 train samples over 3 shards


def test_missing_vocab_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate the data first"):
        make("subword").get_feature_encoders(str(tmp_path))


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_vocabulary_round_trips_and_keeps_the_reserved_ids(model_type, tmp_path):
    from t2x.data import vocab

    texts = [src for src, _ in TRAIN] + [tgt for _, tgt in TRAIN]
    path = str(tmp_path / "vocab.sp")
    vocab.build("sentencepiece", iter(texts), path, 40, sentencepiece_model_type=model_type)
    assert sorted(os.listdir(tmp_path)) == ["vocab.sp"]  # nothing else left behind
    encoder = vocab.load("sentencepiece", path)
    assert 20 <= encoder.vocab_size <= 40
    for text in ("the cat sat on the mat", "der hund sass auf dem baumstamm", "a dog and a cat"):
        ids = encoder.encode(text)
        assert ids and min(ids) > 1  # never PAD (0) or EOS (1)
        assert encoder.decode(ids + [1, 0, 0]) == text
    with pytest.raises(Exception, match="vocab_type must be one of"):
        vocab.load("wordpiece", path)
