"""t2x-decoder --attention_dir on a tiny translation run (translate_from_files, subwords,
transformer_test trained 6 steps on data made here): the JSON's weights, the page in
headless Chromium, the universal transformer's steps, TensorBoard's images and the one-line
refusals. The model's own weights are recomputed here, independently of the recorder: each
attention layer's ``attend`` is wrapped to compute ``softmax(q k^T / sqrt(d) + bias)`` from
what it receives."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from browser_test_utils import WEB, browser_or_skip
from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
WORDS = {"a": "ein", "dog": "hund", "runs": "rennt", "in": "im", "the": "der", "park": "park", "man": "mann",
         "reads": "liest", "book": "buch", "two": "zwei", "girls": "mädchen", "play": "spielen", "with": "mit",
         "ball": "ball", "woman": "frau", "walks": "geht", "street": "straße", "children": "kinder"}
SOURCES = ["a dog runs in the park", "two girls play with a ball", "the woman reads"]
ATOL = 2e-5  # the JSON keeps 6 decimals


def run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory):
    """A tiny English->German word-for-word corpus, a subword vocabulary of ~100 pieces,
    transformer_test trained 6 steps (one eval at the end), then decoded with
    --attention_dir."""
    root = tmp_path_factory.mktemp("attention")
    rng = random.Random(0)
    vocab = sorted(WORDS)
    for split, n in (("train", 300), ("dev", 6)):
        rows = [[rng.choice(vocab) for _ in range(rng.randint(2, 7))] for _ in range(n)]
        (root / f"{split}.en").write_text("".join(" ".join(r) + "\n" for r in rows))
        (root / f"{split}.de").write_text("".join(" ".join(WORDS[w] for w in r) + "\n" for r in rows))
    gin = [f"--gin_param=TranslateFromFiles.{side}_{kind}='{root / (side + ext)}'"
           for side in ("train", "dev") for kind, ext in (("inputs", ".en"), ("targets", ".de"))]
    gin += ["--gin_param=TranslateFromFiles.approx_vocab_size=100", "--gin_param=TranslateFromFiles.train_shards=1"]
    result = run("t2x_trainer", "--generate_data", "--problem=translate_from_files", "--model=transformer",
                 "--hparams_set=transformer_test", f"--data_dir={root / 'data'}", f"--output_dir={root / 'out'}",
                 "--train_steps=6", "--eval_every=6", "--eval_steps=1", "--hparams=batch_size=256", *gin)
    assert result.returncode == 0, result.stderr[-3000:]
    (root / "source.txt").write_text("\n".join(SOURCES) + "\n")
    result = run("t2x_decoder", f"--output_dir={root / 'out'}", f"--decode_from_file={root / 'source.txt'}",
                 f"--decode_to_file={root / 'decoded.txt'}", f"--attention_dir={root / 'att'}",
                 "--decode_hparams=extra_length=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"attention of 3 example(s): open {root / 'att' / 'index.html'}" in result.stdout
    return root


def independent_weights(model, features):
    """``{layer path: [calls of softmax(q k^T / sqrt(d) + bias)] as numpy [B, heads, Lq, Lk]}``,
    recomputed from each attention layer's inputs during ``model(features)``."""
    from t2x.layers.attention import MultiheadAttention

    seen = {}
    layers = [l for l in model._flatten_layers(include_self=False) if isinstance(l, MultiheadAttention)]
    for layer in layers:
        def attend(query, k, v, bias=None, training=False, _layer=layer, _original=layer.attend):
            depth = _layer.key_depth // _layer.num_heads
            q = _layer._split_heads(_layer.q(query)) / np.sqrt(depth)
            logits = tf.matmul(q, k, transpose_b=True)
            if bias is not None:
                logits += tf.cast(bias, logits.dtype)
            seen.setdefault(_layer.path, []).append(tf.nn.softmax(logits, axis=-1).numpy())
            return _original(query, k, v, bias, training)
        object.__setattr__(layer, "attend", attend)
    try:
        logits = model(features, training=False)
    finally:
        for layer in layers:
            object.__delattr__(layer, "attend")
    return seen, logits.numpy()


@pytest.fixture(scope="module")
def expected(translation_run):
    """The trained model, in this process, and per example of SOURCES the weights by type
    ``[layers, heads, Lq, Lk]`` recomputed independently (layers by the Transformer's own
    layer names) over its greedy decode. The decode's ids are the JSON's, checked here to be
    the greedy decode: each is the argmax of the teacher-forced logits before it."""
    from t2x.inference.decoder import SequenceDecoder, parse_decode_hparams
    from t2x.runs.checkpoints import load_trained_model

    model, problem, data_dir, _ = load_trained_model(str(translation_run / "out"))
    decoder = SequenceDecoder(model, problem, data_dir, parse_decode_hparams("extra_length=4"))
    inputs = [decoder.encode_input(line) for line in SOURCES]
    data = json.loads((translation_run / "att" / "attention.json").read_text())
    assert [e["source_ids"] for e in data["examples"]] == inputs
    outputs = [e["target_ids"][:-1] for e in data["examples"]]
    assert all(e["target_ids"][-1] == 1 for e in data["examples"])
    examples = []
    for ids, out in zip(inputs, outputs):
        features = {"inputs": tf.constant([ids], tf.int64), "targets": tf.constant([out + [1]], tf.int64)}
        seen, logits = independent_weights(model, features)
        by_type = {"encoder": [], "decoder": [], "encdec": []}
        for i in range(2):
            by_type["encoder"].append(seen[f"transformer/encoder_{i}_self_attention_block/encoder_{i}_self_attention"])
            by_type["decoder"].append(seen[f"transformer/decoder_{i}_self_attention_block/decoder_{i}_self_attention"])
            by_type["encdec"].append(seen[f"transformer/decoder_{i}_encdec_attention_block/decoder_{i}_encdec_attention"])
        assert all(len(calls) == 1 for calls in sum(by_type.values(), []))
        # The teacher-forced pass is the decode's: its argmax is the decoded output.
        assert np.argmax(logits[0], axis=-1).tolist()[:len(out)] == out
        encoders = decoder.encoders
        examples.append({"input_ids": ids, "output_ids": out,
                         "source_tokens": [str(t) for t in encoders["inputs"].decode_list(ids)],
                         "target_tokens": [str(t) for t in encoders["targets"].decode_list(out + [1])],
                         "attention": {t: np.stack([c[0][0] for c in calls]) for t, calls in by_type.items()}})
    return {"model": model, "problem": problem, "data_dir": data_dir, "decoder": decoder, "examples": examples}


def test_the_json_holds_every_layer_and_head_of_each_type_equal_to_the_models(translation_run, expected):
    data = json.loads((translation_run / "att" / "attention.json").read_text())
    script = (translation_run / "att" / "attention.js").read_text()
    assert script.startswith("window.T2X_ATTENTION = ") and json.loads(script[23:].rstrip().rstrip(";")) == data
    assert sorted(os.listdir(translation_run / "att")) == sorted(
        ["attention.json", "attention.js", "index.html", "attention_view.js", "attention_view.css"])
    assert (data["model"], data["problem"], data["layer_name"]) == ("transformer", "translate_from_files", "layer")
    assert data["checkpoint"] == "ckpt-6" and list(data["types"]) == ["encoder", "decoder", "encdec"]
    decoded = (translation_run / "decoded.txt").read_text().splitlines()
    assert [e["source"] for e in data["examples"]] == SOURCES and [e["output"] for e in data["examples"]] == decoded
    for got, want in zip(data["examples"], expected["examples"]):
        src, tgt = len(want["input_ids"]), len(want["output_ids"]) + 1
        assert got["source_tokens"] == want["source_tokens"] and got["source_tokens"][-1] == "<EOS>"
        assert got["target_tokens"] == want["target_tokens"] and got["target_tokens"][-1] == "<EOS>"
        assert any(t.endswith("_") for t in got["source_tokens"])  # subword pieces, as the vocabulary has them
        for kind, shape in (("encoder", (2, 2, src, src)), ("decoder", (2, 2, tgt, tgt)),
                            ("encdec", (2, 2, tgt, src))):
            weights = np.array(got["attention"][kind])
            assert weights.shape == shape, kind
            np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
            np.testing.assert_allclose(weights, want["attention"][kind], atol=ATOL, err_msg=kind)
        causal = np.array(got["attention"]["decoder"])
        assert np.all(np.triu(causal, k=1) == 0)  # the decoder never looks ahead
        assert not np.allclose(causal[0, 0], causal[0, 1], atol=1e-3)  # heads differ


def test_the_page_in_headless_chromium_shows_the_models_weights(translation_run, expected):
    chromium = browser_or_skip()
    url = (translation_run / "att" / "index.html").as_uri()  # file://: no server, no fetch
    proc = subprocess.run(["node", os.path.join(WEB, "read_attention_page.mjs"), url, chromium],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = json.loads(proc.stdout)
    assert page["layer_label"] == "Layer"
    views = page["views"]
    # Every example, type, layer and head (and their mean), each as heatmap and lines.
    assert len(views) == 3 * 3 * 2 * 3 * 2
    for view in views:
        want = expected["examples"][view["example"]]
        heads = want["attention"][view["type"]][view["layer"]]  # [heads, Lq, Lk]
        shown = heads.mean(axis=0) if view["head"] == "mean" else heads[int(view["head"])]
        queries = want["source_tokens"] if view["type"] == "encoder" else want["target_tokens"]
        keys = want["target_tokens"] if view["type"] == "decoder" else want["source_tokens"]
        lq, lk = shown.shape
        if view["view"] == "heatmap":
            assert view["heatmap_queries"] == queries and view["heatmap_keys"] == keys and not view["lines"]
            cells = view["cells"]
            assert len(cells) == lq * lk
            drawn = np.zeros_like(shown)
            for c in cells:
                drawn[c["q"], c["k"]] = c["w"]
            np.testing.assert_allclose(drawn.sum(axis=1), 1.0, atol=1e-5)
            np.testing.assert_allclose(drawn, shown, atol=ATOL, err_msg=str({k: view[k] for k in ("type", "layer", "head")}))
        else:
            assert view["lines_queries"] == queries and view["lines_keys"] == keys and not view["cells"]
            per_head = heads if view["head"] == "mean" else heads[int(view["head"])][None]
            head_ids = list(range(len(heads))) if view["head"] == "mean" else [int(view["head"])]
            assert len(view["lines"]) == len(head_ids) * lq * lk
            for line in view["lines"]:
                w = per_head[head_ids.index(line["head"]), line["q"], line["k"]]
                assert abs(line["w"] - w) < ATOL and abs(float(line["opacity"]) - w) < ATOL
        assert view["status"].endswith(f"{lq} queries \u00d7 {lk} keys")


def test_the_universal_transformers_steps_are_its_layers(translation_run, expected, tmp_path, monkeypatch):
    import keras

    from t2x.inference import attention as attention_lib
    from t2x.inference.attention import check_attention_dir, write_attention_dir
    from t2x.model import create_model
    from t2x import registry

    keras.utils.set_random_seed(1)
    model = create_model(expected["problem"], "universal_transformer", registry.hparams("universal_transformer_test")(),
                         expected["data_dir"])
    want = expected["examples"][1]
    n = write_attention_dir(str(tmp_path / "ut"), model, expected["decoder"].encoders,
                            [(want["input_ids"], want["output_ids"])])
    data = json.loads((tmp_path / "ut" / "attention.json").read_text())
    assert n == 1 and data["layer_name"] == "step" and data["model"] == "universal_transformer"
    assert check_attention_dir(str(tmp_path / "ut")) == str(tmp_path / "ut")  # an earlier page may be replaced
    monkeypatch.setattr(attention_lib, "MAX_WEIGHTS", 1)  # the size budget keeps the first example only
    pair = (want["input_ids"], want["output_ids"])
    assert write_attention_dir(str(tmp_path / "ut"), model, expected["decoder"].encoders, [pair, pair]) == 1
    assert len(json.loads((tmp_path / "ut" / "attention.json").read_text())["examples"]) == 1
    seen, _ = independent_weights(model, {"inputs": tf.constant([want["input_ids"]], tf.int64),
                                          "targets": tf.constant([want["output_ids"] + [1]], tf.int64)})
    paths = {"encoder": "universal_transformer/encoder/self_attention_block/self_attention",
             "decoder": "universal_transformer/decoder/self_attention_block/self_attention",
             "encdec": "universal_transformer/decoder/encdec_attention_block/encdec_attention"}
    src, tgt = len(want["input_ids"]), len(want["output_ids"]) + 1
    for kind, shape in (("encoder", (3, 2, src, src)), ("decoder", (3, 2, tgt, tgt)), ("encdec", (3, 2, tgt, src))):
        weights = np.array(data["examples"][0]["attention"][kind])
        assert weights.shape == shape
        np.testing.assert_allclose(weights, np.stack([c[0] for c in seen[paths[kind]]]), atol=ATOL)


def test_evaluation_puts_attention_images_in_tensorboard(translation_run, expected, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    from t2x.inference.attention import write_attention_images

    events = EventAccumulator(str(translation_run / "out" / "eval"), size_guidance={TENSORS: 0})
    events.Reload()
    tags = sorted(t for t in events.Tags()["tensors"] if t.startswith("attention/"))
    assert tags == [f"attention/{kind}/example_{i}" for kind in ("decoder", "encdec", "encoder") for i in (0, 1)]
    event = events.Tensors("attention/encdec/example_0")[-1]
    assert event.step == 6
    width, height, png = tf.make_ndarray(event.tensor_proto)[:3]
    image = tf.io.decode_png(png).numpy()
    # dev example 0, teacher-forced with its reference: 2 layers x 2 heads of [Lt, Li] maps
    # scaled up by 64 // max(Lt, Li), parted by 1-pixel lines.
    dev = next(iter(expected["problem"].dataset("eval", expected["data_dir"], deterministic=True)))
    lt, li = len(dev["targets"]), len(dev["inputs"])
    scale = 64 // max(lt, li)
    assert image.shape == (2 * (lt * scale + 1) + 1, 2 * (li * scale + 1) + 1, 1)
    assert (int(width), int(height)) == (image.shape[1], image.shape[0])
    # Each map's rows sum to 1 (white = 1): a pixel row of one map sums to `scale` x 255.
    first = image[1:1 + lt * scale, 1:1 + li * scale, 0].astype(float) / 255
    np.testing.assert_allclose(first[::scale].sum(axis=1) / scale, 1.0, atol=0.02 * li)

    # A model without multi-head attention writes none.
    from t2x.model import create_model
    from t2x import registry

    lstm = create_model(expected["problem"], "lstm_seq2seq_attention", registry.hparams("lstm_attention")(),
                        expected["data_dir"])
    writer = tf.summary.create_file_writer(str(tmp_path / "lstm"))
    assert write_attention_images(writer, 1, lstm, expected["problem"], expected["data_dir"]) == 0
    writer.close()
    assert EventAccumulator(str(tmp_path / "lstm")).Reload().Tags()["tensors"] == []


def test_attention_dir_problems_are_one_line_refusals_before_the_model_loads(tmp_path, monkeypatch):
    from t2x.inference import decoder as decoder_lib
    from t2x.inference.attention import AttentionError

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model was loaded before --attention_dir was checked")

    monkeypatch.setattr(decoder_lib, "load_trained_model", must_not_load)
    source = tmp_path / "in.txt"
    source.write_text("a dog\n")
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")

    def refused(attention_dir, match, **kwargs):
        args = dict(decode_from_file=str(source), decode_to_file=str(tmp_path / "out.txt"))
        args.update(kwargs)
        with pytest.raises(AttentionError, match=match) as info:
            decoder_lib.decode(str(tmp_path / "run"), attention_dir=str(attention_dir), **args)
        assert "\n" not in str(info.value)

    refused(tmp_path / "file", "is a file: name a directory")
    refused(tmp_path / "file" / "att", "cannot be made: .*file is a file, not a directory")
    refused(tmp_path / "other", r"holds other files \(notes.txt\).*name a new or empty one")
    refused(tmp_path / "att", "needs the checkpoint: an export keeps no attention", saved_model=str(tmp_path))
    refused(tmp_path / "att", "not --decode_interactive", decode_interactive=True)
    refused(tmp_path / "att", "--attention_examples=0 must be >= 1", attention_examples=0)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    refused(tmp_path / "att", f"cannot be written: {tmp_path} is read-only")
    assert not (tmp_path / "att").exists() and (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_a_model_without_attention_is_one_line(tmp_path, monkeypatch):
    import keras

    from t2x import registry
    from t2x.inference import decoder as decoder_lib
    from t2x.inference.attention import AttentionError
    from t2x.model import create_model

    keras.utils.set_random_seed(0)
    source = tmp_path / "in.txt"
    source.write_text("0 1\n")
    runs = {"image": ("image_mnist", "basic_fc_relu", "basic_fc_small"),
            "lstm": ("tiny_algo", "lstm_seq2seq_attention", "lstm_attention")}
    for kind, (problem_name, model_name, hparams_set) in runs.items():
        problem = registry.problem(problem_name)
        model = create_model(problem, model_name, registry.hparams(hparams_set)(), str(tmp_path))
        monkeypatch.setattr(decoder_lib, "load_trained_model",
                            lambda *a, _m=model, _p=problem, **k: (_m, _p, str(tmp_path), "ckpt-1"))
        with pytest.raises(AttentionError) as info:
            decoder_lib.decode(str(tmp_path / "run"), decode_from_file=str(source), attention_dir=str(tmp_path / kind),
                               decode_to_file=str(tmp_path / f"{kind}.txt"))
        message = str(info.value)
        assert "\n" not in message and message.startswith("--attention_dir") and message.endswith("drop --attention_dir")
        assert not (tmp_path / kind).exists() and not (tmp_path / f"{kind}.txt").exists()
    assert "model lstm_seq2seq_attention has no multi-head attention" in message
