"""Summarization (issue 23): BBC News Summary's folder tree, CNN/DailyMail's story tarballs and
line-aligned files, all made here in the real layouts; long inputs cut; ``transformer_prepend``
(cached decoding equals uncached); two tiny runs end to end (datagen, training, ROUGE on real
decodes in the eval results, the decoder; ``transformer_prepend``'s text-to-text export decoding
in a TensorFlow-only process). No network, nothing read from outside tmp_path."""

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT

from t2x.errors import DataError, DataMissingError

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
FAST = "batch_size=256,learning_rate_warmup_steps=1,learning_rate_constant=0.3"  # a few steps learn "the"
WORDS = "the cat dog bird sat ran flew on over under a red big small mat tree house".split()


def _sentence(rng, n=None):  # "the" is half the words: a few training steps learn to say it
    words = [w for noun in rng.choices(WORDS[1:], k=n or rng.randint(3, 5)) for w in ("the", noun)]
    return " ".join(words).capitalize() + "."


def _article(rng, sentences=5):
    return [_sentence(rng) for _ in range(sentences)]


def make_bbc(root, numbers=range(1, 11), rng=None):
    """The release's tree under ``root/bbc_news_summary``: 5 categories, files NNN.txt; a
    title line, paragraphs; the summary = sentences 1 and 3 glued together (as released);
    entertainment/003 in Latin-1. Returns {key: (body, summary)} as the problem should read them."""
    rng = rng or random.Random(23)
    expected = {}
    for category in ("business", "entertainment", "politics", "sport", "tech"):
        for sub in ("News Articles", "Summaries"):
            (root / "bbc_news_summary" / sub / category).mkdir(parents=True, exist_ok=True)
        for number in numbers:
            name = f"{number:03d}.txt"
            sentences = _article(rng)
            if (category, number) == ("entertainment", 3):
                sentences[0] = "Caf\xe9 owner sat."
            text = f"Title of {category} {number}\n\n" + " ".join(sentences[:2]) + "\n\n" + " ".join(sentences[2:]) + "\n"
            encoding = "latin-1" if (category, number) == ("entertainment", 3) else "utf-8"
            (root / "bbc_news_summary" / "News Articles" / category / name).write_bytes(text.encode(encoding))
            (root / "bbc_news_summary" / "Summaries" / category / name).write_bytes(
                (sentences[0] + sentences[2]).encode(encoding))
            expected[f"{category}/{name}"] = (" ".join(sentences), f"{sentences[0]} {sentences[2]}")
    return expected


# ------------------------------------------------------------------ readers --
def test_bbc_layout_split_title_latin1_and_glued_summaries(tmp_path):
    from t2x.problems.summarize import bbc_pairs, bbc_split, space_sentences, split_sentences

    expected = make_bbc(tmp_path)
    got = {key: (article, summary) for article, summary, key in bbc_pairs(str(tmp_path))}
    assert got == expected  # title left out, paragraphs joined, summary spaced, Latin-1 read
    assert got["entertainment/003.txt"][0].startswith("Caf\xe9 owner sat.")
    counts = {split: sum(1 for _ in bbc_pairs(str(tmp_path), split)) for split in ("train", "dev", "test")}
    assert counts == {"train": 40, "dev": 5, "test": 5}  # 10 -> test, 5 -> dev per category
    assert [bbc_split(n) for n in (10, 15, 20, 7, 510)] == ["test", "dev", "test", "train", "test"]
    # the release's folder name with spaces, and the folder itself as --tmp_dir
    os.rename(tmp_path / "bbc_news_summary", tmp_path / "BBC News Summary")
    assert sum(1 for _ in bbc_pairs(str(tmp_path), "test")) == 5
    assert sum(1 for _ in bbc_pairs(str(tmp_path / "BBC News Summary"), "dev")) == 5
    assert space_sentences('He said.The firm grew 2%.Sales of U.S.Army boots rose. AOL.For now.') == \
        'He said. The firm grew 2%. Sales of U.S.Army boots rose. AOL. For now.'
    assert space_sentences('"We won," he said."I am glad."Then he left.') == \
        '"We won," he said. "I am glad." Then he left.'
    assert split_sentences('It rose 2.5% to $1.1bn. "Good," he said. Then 3 more! Done?') == \
        ["It rose 2.5% to $1.1bn.", '"Good," he said.', "Then 3 more!", "Done?"]


def test_bbc_bad_inputs_are_one_line_naming_the_fix(tmp_path):
    from t2x.problems.summarize import bbc_pairs

    with pytest.raises(DataMissingError, match="BBC News Summary is not in --tmp_dir=.*put the release's folder"):
        list(bbc_pairs(str(tmp_path)))
    make_bbc(tmp_path, numbers=[1, 2])
    summaries = tmp_path / "bbc_news_summary" / "Summaries"
    os.remove(summaries / "tech" / "002.txt")
    with pytest.raises(DataError) as error:
        list(bbc_pairs(str(tmp_path)))
    assert "News Articles/tech/002.txt has no matching summary" in str(error.value)
    assert "restore it from the release, or remove the article" in str(error.value)
    assert "\n" not in str(error.value)
    (summaries / "tech" / "002.txt").write_text("Some summary.")
    (tmp_path / "bbc_news_summary" / "News Articles" / "sport" / "001.txt").write_text("Only a title\n\n")
    with pytest.raises(DataError, match=r"sport/001.txt: empty article \(a title and no body\): restore"):
        list(bbc_pairs(str(tmp_path)))
    os.remove(tmp_path / "bbc_news_summary" / "News Articles" / "sport" / "001.txt")
    with pytest.raises(DataError, match=r"Summaries/sport/001.txt has no article .*remove the summary"):
        list(bbc_pairs(str(tmp_path)))


def _files(root, name, lines):
    (root / name).write_text("".join(line + "\n" for line in lines))
    return str(root / name)


def test_from_files_bad_inputs_name_file_and_line(tmp_path):
    from t2x.problems.summarize import SummarizeFromFiles

    def samples(articles, summaries):
        problem = SummarizeFromFiles(train_inputs=_files(tmp_path, "a.txt", articles),
                                     train_targets=_files(tmp_path, "s.txt", summaries))
        return list(problem.generate_samples(None, None, "train"))

    assert samples(["A b.", "", "C d."], ["x.", "", "y."]) == [{"inputs": "A b.", "targets": "x."},
                                                             {"inputs": "C d.", "targets": "y."}]
    with pytest.raises(DataError, match=r"a.txt:2: empty article, but .*s.txt:2 is not: one article"):
        samples(["A b.", " ", "C d."], ["x.", "z.", "y."])
    with pytest.raises(DataError, match=r"s.txt:1: empty summary, but .*a.txt:1 is not"):
        samples(["A b."], [""])
    with pytest.raises(DataError, match=r"are not line-aligned: .*s.txt ends after 1 lines"):
        samples(["A b.", "C d."], ["x."])


def _story(article_lines, highlights):
    return "\n\n".join(article_lines + [f"@highlight\n\n{h}" for h in highlights]) + "\n"


def make_cnn_dailymail(root, rng):
    """cnn_stories.tgz / dailymail_stories.tgz (``<source>/stories/<sha1(url)>.story``) and the
    three url lists; one listed url has no story, the stories of train/5 have no highlights."""
    urls = {split: [f"http://www.{src}.com/{split}/{i}" for src in ("cnn", "dailymail") for i in range(n)]
            for split, n in (("train", 6), ("val", 2), ("test", 2))}
    for split, listed in urls.items():
        (root / f"all_{split}.txt").write_text("\n".join(listed + [f"http://www.cnn.com/{split}/missing"]) + "\n")
    stories = {}
    for source in ("cnn", "dailymail"):
        with tarfile.open(root / f"{source}_stories.tgz", "w:gz") as archive:
            for split, listed in urls.items():
                for url in (u for u in listed if f".{source}." in u):
                    lines = [" ".join(rng.choices(WORDS, k=6)) for _ in range(3)]  # no final period
                    highlights = [] if url.endswith("train/5") else [" ".join(rng.choices(WORDS, k=4)) + "."] * 2
                    data = _story(lines, highlights).encode("utf-8")
                    info = tarfile.TarInfo(f"{source}/stories/{hashlib.sha1(url.encode()).hexdigest()}.story")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
                    stories[url] = (lines, highlights)
    return urls, stories


def test_cnn_dailymail_story_tarballs(tmp_path):
    from t2x.problems.summarize import SummarizeCnnDailymail32k, parse_story

    problem = SummarizeCnnDailymail32k()
    with pytest.raises(DataMissingError) as error:
        problem.prepare_data(str(tmp_path / "data"), str(tmp_path))
    message = str(error.value)
    assert "cnn_stories.tgz, dailymail_stories.tgz, all_train.txt, all_val.txt, all_test.txt missing in" in message
    assert "https://cs.nyu.edu/~kcho/DMQA/" in message and "\n" not in message
    urls, stories = make_cnn_dailymail(tmp_path, random.Random(1))
    train = list(problem.generate_samples(None, str(tmp_path), "train"))
    assert len(train) == 10  # 12 stories listed, 2 without highlights skipped; the missing url logged
    lines, highlights = stories["http://www.cnn.com/train/0"]
    assert train[0] == {"inputs": " ".join(line + "." for line in lines), "targets": " ".join(highlights)}
    assert [len(list(problem.generate_samples(None, str(tmp_path), s))) for s in ("dev", "test")] == [4, 4]
    assert parse_story("@highlight\n\nno article") == ("", "")
    assert parse_story('Quoted "end"\n\nShe asked?\n\n@highlight\n\nHigh') == ('Quoted "end" She asked?', "High.")
    # the extracted folders work too
    with tarfile.open(tmp_path / "cnn_stories.tgz") as archive:
        archive.extractall(tmp_path / "x", filter="data")
    os.remove(tmp_path / "cnn_stories.tgz")
    os.rename(tmp_path / "x" / "cnn", tmp_path / "cnn")
    from_folder = list(problem.generate_samples(None, str(tmp_path), "train"))  # sorted by file name there
    assert sorted(from_folder, key=lambda e: e["inputs"]) == sorted(train, key=lambda e: e["inputs"])


def test_inputs_cut_to_max_input_seq_length_with_eos():
    from t2x import decoding
    from t2x.hparam import HParams
    from t2x.problems.summarize import SummarizeBbcNews

    cut = decoding.truncate_ids(tf.constant([[5, 6, 7, 8, 1], [5, 6, 1, 0, 0]], tf.int64), 4)
    assert cut.numpy().tolist() == [[5, 6, 7, 1], [5, 6, 1, 0]]
    problem = SummarizeBbcNews(max_input_seq_length=3, max_target_seq_length=2)
    example = {"inputs": tf.constant([4, 5, 6, 7, 1], tf.int64), "targets": tf.constant([8, 9, 1], tf.int64)}
    out = problem.preprocess_example(example, "train", HParams(batch_size=8))
    assert out["inputs"].numpy().tolist() == [4, 5, 1] and out["targets"].numpy().tolist() == [8, 1]
    assert problem.preprocess_example(example, "eval", None) is example  # read whole for decoding
    out = problem.preprocess_example(example, "train", HParams(max_input_seq_length=4, max_target_seq_length=0))
    assert out["inputs"].numpy().tolist() == [4, 5, 6, 1] and out["targets"].numpy().tolist() == [8, 1]
    assert problem.limits(HParams(max_input_seq_length=0)) == (3, 2)
    assert problem.eval_metrics() == ["accuracy", "neg_log_perplexity", "rouge_1", "rouge_2", "rouge_L"]


# ------------------------------------------------------------- the model --
def _prepend_model(mode="prepend_inputs_masked_attention"):
    from t2x import registry
    from t2x.hparam import HParams
    from t2x.model import build_variables, model_for

    hp = registry.hparams("transformer_prepend_tiny")()
    hp.hidden_size, hp.filter_size, hp.num_heads, hp.prepend_mode = 16, 32, 2, mode
    problem_hp = HParams(modality={"inputs": "symbol", "targets": "symbol"}, vocab_size={"inputs": 20, "targets": 20},
                         input_space_id=0, target_space_id=0, loss_multiplier=1.0, max_input_seq_length=0,
                         stop_at_eos=True)
    tf.keras.utils.set_random_seed(3)
    model = model_for("transformer_prepend", hp, problem_hp)
    return build_variables(model, {k: tf.TensorSpec([None], tf.int64) for k in ("inputs", "targets")})


@pytest.mark.parametrize("mode", ["prepend_inputs_masked_attention", "prepend_inputs_full_attention"])
def test_transformer_prepend_cached_decoding_equals_uncached(mode):
    model = _prepend_model(mode)
    inputs = tf.constant([[5, 6, 7, 1, 0, 0], [3, 4, 5, 6, 8, 1]], tf.int64)
    for beam in (1, 3):
        fast = model.infer({"inputs": inputs}, beam_size=beam, decode_length=7, use_cache=True)
        slow = model.infer({"inputs": inputs}, beam_size=beam, decode_length=7, use_cache=False)
        assert fast["outputs"].shape == (2, 7)
        np.testing.assert_array_equal(fast["outputs"].numpy(), slow["outputs"].numpy())
        np.testing.assert_allclose(fast["scores"].numpy(), slow["scores"].numpy(), atol=1e-4)
    # an example's logits do not depend on its batch neighbours (padding masked, positions its own)
    targets = tf.constant([[9, 10, 11, 1], [12, 13, 1, 0]], tf.int64)
    both = model({"inputs": inputs, "targets": targets}).numpy()
    alone = model({"inputs": inputs[:1, :4], "targets": targets[:1]}).numpy()
    assert both.shape == (2, 4, 20)
    np.testing.assert_allclose(both[0], alone[0], atol=1e-5)
    # the loss reads the targets only: changing an input changes it, a target position 0 weighs nothing
    num, den = model.loss_fn(model({"inputs": inputs, "targets": targets}), {"targets": targets}, training=False)
    assert float(den) == 7.0


def test_prepend_sets_are_t2ts_and_other_models_refuse_them():
    from t2x import registry
    from t2x.errors import ConfigError
    from t2x.model import check_model_hparams

    hp = registry.hparams("transformer_prepend")()
    base = registry.hparams("transformer_base_v2")()
    assert (hp.prepend_mode, hp.max_length, hp.hidden_size, hp.learning_rate_warmup_steps) == \
        ("prepend_inputs_masked_attention", 0, base.hidden_size, base.learning_rate_warmup_steps)
    assert registry.hparams("transformer_prepend_v1")().layer_postprocess_sequence == "dan"
    check_model_hparams("transformer_prepend", hp)
    with pytest.raises(ConfigError, match="model transformer does not read prepend_mode=.*use --model=transformer_prepend"):
        check_model_hparams("transformer", hp)


# ------------------------------------------------------------ end to end --
def _run(module, *args, timeout=240):
    return subprocess.Popen([sys.executable, "-m", f"t2x.scripts.{module}", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs trained side by side: ``transformer`` on ``summarize_bbc_news`` (its
    folder tree) and ``transformer_prepend`` on ``summarize_from_files`` (inputs cut to 12)."""
    root = tmp_path_factory.mktemp("summarize")
    make_bbc(root)
    rng = random.Random(5)
    for split, n in (("train", 40), ("dev", 4)):
        articles = [_article(rng, 4) for _ in range(n)]
        _files(root, f"{split}.articles", [" ".join(a) for a in articles])
        _files(root, f"{split}.summaries", [a[0] + " " + a[2] for a in articles])
    common = ["--generate_data", "--schedule=train_and_evaluate", "--train_steps=3", "--eval_every=3",
              "--eval_steps=1", "--eval_decode_examples=3", "--decode_hparams=extra_length=5"]
    bbc = _run("t2x_trainer", *common, "--problem=summarize_bbc_news", f"--tmp_dir={root}",
               f"--data_dir={root / 'bbc_data'}", f"--output_dir={root / 'transformer'}", "--model=transformer",
               "--hparams_set=transformer_test", f"--hparams={FAST}")
    files = _run("t2x_trainer", *common, "--problem=summarize_from_files", f"--data_dir={root / 'files_data'}",
                 f"--output_dir={root / 'transformer_prepend'}", "--model=transformer_prepend",
                 "--hparams_set=transformer_prepend_tiny", f"--hparams=hidden_size=16,filter_size=16,num_heads=2,{FAST}", *[f"--gin_param=SummarizeFromFiles.{k}_{f}='{root / f'{k}.{s}'}'"
                                     for k in ("train", "dev") for f, s in (("inputs", "articles"),
                                                                            ("targets", "summaries"))],
                 "--gin_param=SummarizeFromFiles.max_input_seq_length=12",
                 "--gin_param=SummarizeFromFiles.approx_vocab_size=300",
                 "--gin_param=SummarizeFromFiles.train_shards=1")
    outputs = {}
    for name, proc in (("transformer", bbc), ("transformer_prepend", files)):
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-3000:]
        outputs[name] = stdout
    return root, outputs


@pytest.mark.parametrize("model", ["transformer", "transformer_prepend"])
def test_rouge_on_real_decodes_decoder_and_text_export(runs, model):
    from t2x import metrics
    from t2x.export.exporter import export
    from t2x.inference.decoder import SequenceDecoder, decode, parse_decode_hparams
    from t2x.runs.checkpoints import load_trained_model

    root, outputs = runs
    run = root / model
    line = outputs[model].strip().splitlines()[-1]
    assert "train_and_evaluate done at step 3" in line
    reported = {k: float(v) for k, v in (item.split() for item in line.split("step 3: ", 1)[1].split(", "))}
    # eval decoded the first 3 dev articles; its ROUGE is that of the kept decodes
    hypotheses = (run / "decodes" / "dev-3.txt").read_text().splitlines()
    assert len(hypotheses) == 3
    trained, problem, data_dir, _ = load_trained_model(str(run))
    assert trained.problem_hparams.max_input_seq_length == (512 if model == "transformer" else 12)  # gin's, kept
    decoder = SequenceDecoder(trained, problem, data_dir, parse_decode_hparams("extra_length=5"))
    articles, references = decoder.split_texts("dev", 3)
    rouge = metrics.decode_results(["rouge_1", "rouge_2", "rouge_L"], hypotheses, references)
    assert rouge["rouge_1"] > 0.0, (hypotheses, references)
    for name, value in rouge.items():
        assert 0.0 <= value <= 1.0 and abs(reported[name] - value) < 1e-4, (name, reported, rouge)
    assert {"accuracy", "neg_log_perplexity", "loss"} <= set(reported)

    # t2x-decoder's library on the dev split: the eval's decodes, and the split's ROUGE in its line
    line = decode(str(run), decode_split="dev", decode_to_file=str(root / f"{model}.hyp"),
                  decode_hparams="extra_length=5")
    decoded = (root / f"{model}.hyp").read_text().splitlines()
    assert decoded[:3] == hypotheses  # the evaluator decodes as t2x-decoder does
    _, all_references = decoder.split_texts("dev")
    assert len(decoded) == len(all_references) == (5 if model == "transformer" else 4)
    rouge = metrics.decode_results(["rouge_1", "rouge_2", "rouge_L"], decoded, all_references)
    assert f"rouge_1 {rouge['rouge_1']:.4f}, rouge_2 {rouge['rouge_2']:.4f}, rouge_L {rouge['rouge_L']:.4f}" in line

    if model == "transformer":
        return  # its text-to-text export is the translation exports' (tests/t2x/export); ~30 s saved
    # the text-to-text export of transformer_prepend (inputs cut to 12 in its graph) decodes the same
    # summaries in a process that imports TensorFlow only
    result = export(str(run), export_dir=str(root / f"export_{model}"), decode_hparams="extra_length=5")
    assert result.kind == "text2text"
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(root / f"export_{model}" / "saved_model")!r})
        out = m.signatures["serving_default"](inputs=tf.constant({articles!r}))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "outputs": [o.decode() for o in out["outputs"].numpy()]}}))""")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served == {"t2x": False, "outputs": decoded[:3]}
