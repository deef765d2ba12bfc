"""t2x-exporter end to end: a tiny image run and a tiny_algo run exported, every signature's
shapes, dtypes and values against the checkpoint, TF Lite through ai_edge_litert, TF.js in
headless Chromium, a killed export, the one-line errors, and the destination: what
--overwrite may replace, a failed overwrite, a full or read-only folder. (Text classifiers
and language models: test_export_text.py.)"""

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import tensorflow as tf

from browser_test_utils import browser_or_skip
from conftest import REPO_ROOT, make_tiny_mnist

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
HAVE_TFJS = importlib.util.find_spec("tensorflowjs") is not None  # installed apart (README)
WEB = os.path.join(REPO_ROOT, "web")


def run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT)


def fresh_python(code, timeout=120):
    """Runs ``code`` in a new interpreter; returns its last stdout line parsed as JSON."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


USR_CODE = '''
from t2x import registry
from t2x.data.image import IdxImage2ClassProblem, idx_sources

@registry.register_problem
class ImageExportDigits(IdxImage2ClassProblem):
    train_shards = 1
    class_labels = tuple("zero one two three four five six seven eight nine".split())
    source_files = idx_sources({table!r}, ["http://127.0.0.1:9/"])
'''


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("image")
    table, _ = make_tiny_mnist(str(root / "raw"))
    usr = root / "export_usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(USR_CODE.format(table=table))
    result = run("t2x_trainer", f"--t2x_usr_dir={usr}", "--problem=image_export_digits",
                 "--model=basic_fc_relu", "--hparams_set=basic_fc_tiny", f"--data_dir={root / 'data'}",
                 f"--tmp_dir={root / 'raw'}", f"--output_dir={root / 'run'}", "--train_steps=4",
                 "--eval_steps=1", "--hparams=batch_size=8")
    assert result.returncode == 0, result.stderr[-3000:]
    formats = "saved_model,tflite,tflite_dynamic,tflite_int8" + (",tfjs" if HAVE_TFJS else "")
    result = run("t2x_exporter", f"--output_dir={root / 'run'}", f"--formats={formats}",
                 "--representative_examples=16")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exported step 4 (image_classifier)" in result.stdout
    return root, root / "run" / "export" / "4"


def dev_images(root):
    from t2x.data.image import read_idx

    images = read_idx(str(root / "raw" / "t10k-images-idx3-ubyte.gz"))[:6]
    return images[..., None]


def checkpoint_probabilities(root, images):
    from t2x.data.problem import Mode
    from t2x.runs.checkpoints import load_trained_model

    model, problem, _, _ = load_trained_model(str(root / "run"))
    x = problem.preprocess_example({"inputs": tf.constant(images)}, Mode.EVAL, model.train_hparams)["inputs"]
    return tf.reshape(model.infer({"inputs": x})["probabilities"], [len(images), -1]).numpy()


def test_image_export_layout_and_metadata(image_run):
    _, export_dir = image_run
    names = sorted(os.listdir(export_dir))
    assert names == sorted(["README.md", "export.json", "saved_model", "tflite.tflite", "tflite_dynamic.tflite",
                            "tflite_int8.tflite"] + (["tfjs"] if HAVE_TFJS else []))
    info = json.loads((export_dir / "export.json").read_text())
    assert (info["step"], info["problem"], info["model"], info["hparams_set"], info["kind"]) == \
        (4, "image_export_digits", "basic_fc_relu", "basic_fc_tiny", "image_classifier")
    assert info["class_names"][:3] == ["zero", "one", "two"] and info["image_shape"] == [28, 28, 1]
    assert info["hparams"]["batch_size"] == 8
    sig = info["signatures"]["serving_default"]
    assert sig["inputs"] == {"images": {"shape": [None, 28, 28, 1], "dtype": "uint8"}}
    assert sig["outputs"]["probabilities"] == {"shape": [None, 10], "dtype": "float32"}
    assert set(info["signatures"]) == {"serving_default", "predict_encoded", "predict_probabilities",
                                       "predict_pixels", "features"}
    readme = (export_dir / "README.md").read_text()
    assert "serving_default(images uint8 [None, 28, 28, 1])" in readme and "step 4" in readme
    if HAVE_TFJS:
        assert sorted(os.listdir(export_dir / "tfjs"))[:2] == ["group1-shard1of1.bin", "index.html"]
    assert not [n for n in os.listdir(export_dir.parent) if ".partial-" in n]


def test_saved_model_in_a_fresh_process_equals_the_checkpoint(image_run):
    root, export_dir = image_run
    images = dev_images(root)
    np.save(root / "images.npy", images)
    got = fresh_python(f'''
        import json, sys
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(export_dir / "saved_model")!r})
        x = np.load({str(root / "images.npy")!r})
        out = m.signatures["serving_default"](images=tf.constant(x))
        png = tf.stack([tf.io.encode_png(i) for i in x])
        enc = m.signatures["predict_encoded"](images=png)
        feats = m.signatures["features"](inputs=tf.image.per_image_standardization(tf.constant(x)))
        print(json.dumps({{"t2x_loaded": any(k.startswith("t2x") for k in sys.modules),
                          "classes": out["classes"].numpy().tolist(), "classes_dtype": out["classes"].dtype.name,
                          "names": [n.decode() for n in out["class_names"].numpy()],
                          "probabilities": out["probabilities"].numpy().tolist(),
                          "encoded": enc["probabilities"].numpy().tolist(),
                          "features_shape": list(feats["features"].shape)}}))''')
    assert got["t2x_loaded"] is False
    expected = checkpoint_probabilities(root, images)
    probabilities = np.array(got["probabilities"])
    assert probabilities.shape == (6, 10) and got["classes_dtype"] == "int64"
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(np.array(got["encoded"]), expected, atol=1e-6)
    assert got["classes"] == expected.argmax(-1).tolist()
    names = "zero one two three four five six seven eight nine".split()
    assert got["names"] == [names[c] for c in got["classes"]]
    assert got["features_shape"][0] == 6


def test_tflite_files_run_in_ai_edge_litert(image_run):
    from ai_edge_litert.interpreter import Interpreter

    root, export_dir = image_run
    images = dev_images(root)
    expected = checkpoint_probabilities(root, images)
    outputs = {}
    for fmt in ("tflite", "tflite_dynamic", "tflite_int8"):
        interpreter = Interpreter(model_path=str(export_dir / f"{fmt}.tflite"))
        runner = interpreter.get_signature_runner("predict_probabilities")
        outputs[fmt] = np.concatenate([runner(images=images[i:i + 1])["probabilities"] for i in range(6)])
        assert outputs[fmt].shape == (6, 10)
        if fmt == "tflite_int8":
            kinds = {d["dtype"] for d in interpreter.get_tensor_details()}
            assert np.int8 in kinds  # activations quantized
            assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    np.testing.assert_allclose(outputs["tflite"], expected, atol=1e-5)
    np.testing.assert_allclose(outputs["tflite_dynamic"], expected, atol=0.05)
    np.testing.assert_allclose(outputs["tflite_int8"], expected, atol=0.1)


def test_tfjs_page_in_headless_chromium_gives_the_saved_models_classes(image_run, tmp_path):
    chromium = browser_or_skip(tensorflowjs=HAVE_TFJS)
    root, export_dir = image_run
    site = tmp_path / "site"
    shutil.copytree(export_dir / "tfjs", site)
    shutil.copy(os.path.join(WEB, "node_modules", "@tensorflow", "tfjs", "dist", "tf.min.js"), site)
    images = dev_images(root)
    (site / "images.json").write_text(json.dumps(images.tolist()))
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html?images=images.json"
        proc = subprocess.run(["node", os.path.join(WEB, "run_page.mjs"), url, chromium],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = json.loads(proc.stdout)
    saved = tf.saved_model.load(str(export_dir / "saved_model")).signatures["serving_default"](
        images=tf.constant(images))
    assert page["tfjs"] == "4.22.0"
    assert page["classes"] == saved["classes"].numpy().tolist()
    assert page["class_names"] == [n.decode() for n in saved["class_names"].numpy()]
    np.testing.assert_allclose(np.array(page["probabilities"]), saved["probabilities"].numpy(), atol=1e-4)


def test_a_killed_export_leaves_no_directory_under_the_final_name(image_run, tmp_path):
    root, _ = image_run
    target = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "t2x.scripts.t2x_exporter", f"--output_dir={root / 'run'}",
                             f"--export_dir={target}", "--formats=saved_model,tflite"],
                            env=ENV, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(".partial-" in n for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    time.sleep(0.5)  # in the middle of writing
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial_dirs = [n for n in os.listdir(tmp_path) if ".partial-" in n]
    assert partial_dirs and not target.exists()
    from t2x.export.exporter import export

    export(str(root / "run"), export_dir=str(target))
    assert sorted(os.listdir(tmp_path)) == ["killed"]  # the stale staging directory is gone
    assert (target / "saved_model" / "saved_model.pb").exists()


def test_exporter_bad_inputs_are_one_line(image_run, tmp_path):
    from t2x.errors import T2XError
    from t2x.export.exporter import export

    root, _ = image_run
    empty = tmp_path / "no_ckpt"
    empty.mkdir()
    for name in ("hparams.json", "run.json", "config.gin", "flags.txt"):
        if (root / "run" / name).exists():
            shutil.copy(root / "run" / name, empty / name)
    result = run("t2x_exporter", f"--output_dir={empty}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and lines[-1].startswith("t2x-exporter: error: no checkpoint in"), lines[-3:]
    assert "Traceback" not in result.stderr and not (empty / "export").exists()
    cases = [
        (dict(output_dir=str(root / "run"), formats="saved_model,tflite_int9"), "did you mean tflite_int8"),
        (dict(output_dir=str(root / "run"), formats=""), "--formats is empty"),
        (dict(output_dir=str(tmp_path / "nothing")), "must be a t2x-trainer output directory"),
        (dict(output_dir=str(root / "run"), decode_hparams="beam_sise=2"), "beam_sise"),
        (dict(output_dir=str(root / "run"), export_dir=str(root / "run" / "export" / "4")), "pass --overwrite"),
    ]
    for kwargs, message in cases:
        with pytest.raises(T2XError, match=message.replace("-", "\\-")):
            export(**kwargs)


# ------------------------------------------------------------------------- text --

@pytest.fixture(scope="module")
def algo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("algo")
    result = run("t2x_trainer", "--generate_data", "--problem=tiny_algo", "--model=transformer",
                 "--hparams_set=transformer_test", f"--data_dir={root / 'data'}", f"--output_dir={root / 'out'}",
                 "--train_steps=6", "--eval_every=100", "--eval_steps=1", "--hparams=batch_size=256,max_length=41")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_text_export_writes_the_decoders_lines(algo_run):
    """Greedy and beam 2, in this process (the library); beam 2 also through the binaries,
    and in a fresh process with only TensorFlow."""
    from t2x.inference.decoder import decode
    from t2x.export.exporter import export

    root = algo_run
    lines = ["1 0 1 1", "0", "1 1 1 0 0 1 0 1", "0 1", "1", "0 0 0 1 1"] * 2
    (root / "src.txt").write_text("\n".join(lines) + "\n")
    for beam_size in (1, 2):
        hp = f"beam_size={beam_size},extra_length=4"
        result = export(str(root / "out"), export_dir=str(root / f"export{beam_size}"), decode_hparams=hp)
        assert result.kind == "text2text" and result.signatures["serving_default"]["inputs"] == \
            {"inputs": {"shape": [None], "dtype": "string"}}
        decode(str(root / "out"), decode_from_file=str(root / "src.txt"), decode_to_file=str(root / f"ck{beam_size}"),
               decode_hparams=hp + ",batch_size=5")
        if beam_size == 1:  # beam 2 goes through the binary below
            summary = decode(None, saved_model=str(root / "export1" / "saved_model"),
                             decode_from_file=str(root / "src.txt"), decode_to_file=str(root / "sm1"),
                             decode_hparams="batch_size=5")
            assert "SavedModel" in summary
            assert (root / "sm1").read_text() == (root / "ck1").read_text()
    info = json.loads((root / "export2" / "export.json").read_text())
    assert info["decode_hparams"]["beam_size"] == 2
    sm = run("t2x_decoder", f"--saved_model={root / 'export2' / 'saved_model'}", f"--decode_from_file={root / 'src.txt'}",
             f"--decode_to_file={root / 'sm_binary.txt'}", "--decode_hparams=batch_size=5")
    assert sm.returncode == 0, sm.stderr[-2000:]
    assert (root / "sm_binary.txt").read_text() == (root / "ck2").read_text()
    got = fresh_python(f'''
        import json, sys
        import tensorflow as tf
        m = tf.saved_model.load({str(root / "export2" / "saved_model")!r})
        out = m.signatures["serving_default"](inputs=tf.constant({lines[:4]!r}))
        ids = m.signatures["predict_ids"](inputs=tf.constant([[3, 2, 3, 1, 0]], tf.int64))
        print(json.dumps({{"t2x": any(k.startswith("t2x") for k in sys.modules),
                          "outputs": [o.decode() for o in out["outputs"].numpy()],
                          "scores": out["scores"].numpy().tolist(), "ids_dtype": ids["outputs"].dtype.name,
                          "ids_rank": len(ids["outputs"].shape)}}))''')
    assert got["t2x"] is False and len(got["scores"]) == 4
    assert got["outputs"] == (root / "ck2").read_text().splitlines()[:4]
    assert (got["ids_dtype"], got["ids_rank"]) == ("int64", 2)


def test_tflite_of_a_sequence_model_is_refused(algo_run):
    from t2x.export.exporter import ExportError, export

    with pytest.raises(ExportError, match="TF Lite and TF.js exports are for image classifiers"):
        export(str(algo_run / "out"), formats="tflite")


# ------------------------------------------------------------------ the destination --

def _tree(path):
    """Every file under ``path`` (relative names), sorted."""
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files)


def test_overwrite_never_replaces_the_run_its_files_or_other_folders(image_run, tmp_path):
    from t2x.export.exporter import ExportError, export

    root, _ = image_run
    run_dir = root / "run"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me\n")
    before = {p: _tree(p) for p in (root, run_dir, tmp_path / "mine")}
    assert len(before[run_dir]) >= 8 and any(n.startswith("train" + os.sep) for n in before[run_dir])
    refused = [(run_dir, "is the run directory"), (run_dir / "train", "is inside the run"),
               (root, "holds the run"), (tmp_path / "mine", "not a t2x export"),
               (run_dir / "export", "not a t2x export")]
    for target, message in refused:
        with pytest.raises(ExportError, match=message):
            export(str(run_dir), export_dir=str(target), overwrite=True)
    assert {p: _tree(p) for p in before} == before
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me\n"


def test_overwrite_replaces_an_earlier_export_and_an_empty_folder_is_used(image_run, tmp_path):
    from t2x.export.exporter import ExportError, export

    root, _ = image_run
    target = tmp_path / "served"
    target.mkdir()  # empty: nothing to lose, no --overwrite needed
    export(str(root / "run"), export_dir=str(target))
    files = _tree(target)
    assert "export.json" in files and "saved_model/saved_model.pb" in files
    (target / "stale.txt").write_text("from the earlier export\n")
    with pytest.raises(ExportError, match="holds an earlier export: pass --overwrite"):
        export(str(root / "run"), export_dir=str(target))
    assert (target / "stale.txt").exists()
    export(str(root / "run"), export_dir=str(target), overwrite=True)
    assert _tree(target) == files  # replaced whole: the earlier export's extra file is gone
    assert sorted(os.listdir(tmp_path)) == ["served"]  # no staging or set-aside folder left


def test_a_failed_overwrite_keeps_the_earlier_export(image_run, tmp_path, monkeypatch):
    from t2x.export import exporter as export_lib

    root, _ = image_run
    target = tmp_path / "kept"
    export_lib.export(str(root / "run"), export_dir=str(target))
    files, info = _tree(target), (target / "export.json").read_text()

    def full_disk(module, directory, signatures=None):
        os.makedirs(directory)
        raise tf.errors.ResourceExhaustedError(None, None,
                                               f"{directory}/saved_model.pb.tmp1; No space left on device")

    monkeypatch.setattr(export_lib.tf.saved_model, "save", full_disk)
    with pytest.raises(export_lib.ExportError) as error:
        export_lib.export(str(root / "run"), export_dir=str(target), overwrite=True)
    assert str(error.value) == (f"cannot write the export to {target}: No space left on device; free space there or "
                                "make it writable, or give another --export_dir (nothing was written)")
    assert _tree(target) == files and (target / "export.json").read_text() == info
    assert sorted(os.listdir(tmp_path)) == ["kept"]
    # a new folder (and the folders made for it) is not left behind either
    with pytest.raises(export_lib.ExportError, match="No space left on device"):
        export_lib.export(str(root / "run"), export_dir=str(tmp_path / "new" / "deeper" / "e"))
    assert sorted(os.listdir(tmp_path)) == ["kept"]


def test_a_bug_while_writing_keeps_its_traceback(image_run, tmp_path, monkeypatch):
    from t2x.export import exporter as export_lib

    root, _ = image_run

    def broken(module, directory, signatures=None):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape [1000000]")

    monkeypatch.setattr(export_lib.tf.saved_model, "save", broken)
    with pytest.raises(tf.errors.ResourceExhaustedError, match="OOM"):
        export_lib.export(str(root / "run"), export_dir=str(tmp_path / "e"))
    assert os.listdir(tmp_path) == []


@pytest.fixture
def small_mounts(tmp_path):
    """A full (64 KiB tmpfs) and a read-only folder: real tmpfs mounts when this process may
    mount (root), else a folder without write permission (and no full one)."""
    full, read_only = tmp_path / "full", tmp_path / "read_only"
    full.mkdir()
    read_only.mkdir()
    mounted = []
    if os.geteuid() == 0:
        for path, options in ((full, "size=64k"), (read_only, "ro,size=64k")):
            if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True).returncode == 0:
                mounted.append(path)
        if len(mounted) < 2:
            for path in mounted:
                subprocess.run(["umount", str(path)], check=True)
            pytest.skip("root without the right to mount a tmpfs: no read-only or full folder to test")
    else:
        read_only.chmod(0o555)
        full = None
    try:
        yield full, read_only
    finally:
        for path in mounted:
            subprocess.run(["umount", str(path)], check=True)
        read_only.chmod(0o755)


def test_a_full_or_read_only_destination_is_one_line_naming_it(image_run, small_mounts):
    root, _ = image_run
    full, read_only = small_mounts
    cases = [(read_only / "e", "Read-only file system" if os.geteuid() == 0 else "Permission denied")]
    if full is not None:
        cases.append((full / "a" / "e", "No space left on device"))
    for target, reason in cases:
        result = run("t2x_exporter", f"--output_dir={root / 'run'}", f"--export_dir={target}")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert lines[-1] == (f"t2x-exporter: error: cannot write the export to {target}: {reason}; free space "
                             "there or make it writable, or give another --export_dir (nothing was written)")
    assert os.listdir(read_only) == [] and (full is None or os.listdir(full) == [])
