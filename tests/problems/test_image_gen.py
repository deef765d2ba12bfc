"""Image generation problems on tiny raw files in the real layouts (MNIST's IDX, CIFAR-10's
python tarball), and t2x-trainer / t2x-decoder end to end: bits per dimension, TensorBoard
samples, PNG grids, reproducible seeds, the one-line refusal of a classification run."""

import hashlib
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, make_tiny_mnist
from t2x import registry
from t2x.data import download
from t2x.data.image import idx_sources
from t2x.data.problem import Mode
from t2x.data.specs import ProblemKind, problem_kind
from t2x.problems.image_gen import ImageCifar10PlainGen, ImageMnistGenConditional

from test_cifar import PER_BATCH, write_tarball

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")


def run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def mnist_data(tmp_path_factory):
    """Tiny MNIST IDX files (60 train, 20 test, 28x28) -> image_mnist's shards, written by
    the conditional generation problem (both read the same shards)."""
    root = tmp_path_factory.mktemp("mnist_gen")
    table, arrays = make_tiny_mnist(str(root / "raw"))

    class TinyMnistGen(ImageMnistGenConditional):
        registered_name = "tiny_mnist_gen_fixture"
        source_files = idx_sources(table, ["http://127.0.0.1:9/"])

    TinyMnistGen().generate_data(str(root / "data"), str(root / "raw"))
    return root, arrays


def images_by_bytes(images):
    return sorted(np.asarray(image, np.uint8).tobytes() for image in images)


def test_mnist_gen_problems_read_image_mnists_shards_as_pixel_targets(mnist_data):
    root, arrays = mnist_data
    data_dir = str(root / "data")
    assert sorted(f for f in os.listdir(data_dir) if f.endswith("of-00001")) == ["image_mnist-dev-00000-of-00001"]
    unconditional = registry.problem("image_mnist_gen")
    conditional = registry.problem("image_mnist_gen_conditional")
    assert problem_kind(unconditional.get_hparams()) == problem_kind(conditional.get_hparams()) == \
        ProblemKind.IMAGE_GENERATION
    assert unconditional.get_hparams().image_shape == [28, 28, 1]
    plain = list(unconditional.dataset(Mode.EVAL, data_dir).as_numpy_iterator())
    labelled = list(conditional.dataset(Mode.EVAL, data_dir).as_numpy_iterator())
    assert len(plain) == len(labelled) == 20
    assert set(plain[0]) == {"targets"} and set(labelled[0]) == {"targets", "inputs"}
    assert plain[0]["targets"].dtype == np.int64 and plain[0]["targets"].shape == (28, 28, 1)
    # The pixels are the raw 0..255 values, unstandardized, each with its own label.
    assert images_by_bytes(e["targets"] for e in plain) == images_by_bytes(arrays["test_images"][..., None])
    truth = {image.tobytes(): int(label) for image, label in zip(arrays["test_images"], arrays["test_labels"])}
    for example in labelled:
        assert example["inputs"].tolist() == [truth[example["targets"].astype(np.uint8).tobytes()]]
    # The classification problem reads the same shards.
    classified = list(registry.problem("image_mnist").dataset(Mode.EVAL, data_dir).as_numpy_iterator())
    assert len(classified) == 20


def test_cifar10_plain_gen_reads_the_tarball_in_hwc(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    arrays = write_tarball(str(raw / "cifar-10-python.tar.gz"))
    sha = hashlib.sha256((raw / "cifar-10-python.tar.gz").read_bytes()).hexdigest()

    class TinyCifarGen(ImageCifar10PlainGen):
        registered_name = "tiny_cifar_gen_fixture"
        train_shards = 2
        source_file = download.RemoteFile("cifar-10-python.tar.gz", sha, ("http://127.0.0.1:9/",))

    problem = TinyCifarGen()
    problem.generate_data(str(tmp_path / "data"), str(raw))
    assert any(f.startswith("image_cifar10-dev") for f in os.listdir(tmp_path / "data"))
    examples = list(problem.dataset(Mode.EVAL, str(tmp_path / "data")).as_numpy_iterator())
    assert len(examples) == PER_BATCH and set(examples[0]) == {"targets"}
    expected = arrays["test_batch"][0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert images_by_bytes(e["targets"] for e in examples) == images_by_bytes(expected)
    assert problem.get_hparams().image_shape == [32, 32, 3]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])  # (width, height)


USR_DIR_CODE = """\
from t2x import registry
from t2x.data.image import idx_sources
from t2x.problems.image_gen import ImageMnistGenConditional


@registry.register_problem
class ImageTinyGen(ImageMnistGenConditional):
    image_shape = (8, 8, 1)
    shards_of = "image_tiny_gen"
    train_shards = 2
    source_files = idx_sources({table!r}, ["http://127.0.0.1:9/"])
"""


def test_trainer_reports_bits_per_dim_and_the_decoder_writes_png_grids(tmp_path):
    from t2x.data.image import write_idx
    from t2x.inference import decoder as decoder_lib
    from t2x.inference.images import ImageGenerationError

    # 8x8 digits in the IDX layout, a class-conditional problem over them in a user dir.
    raw, usr = tmp_path / "raw", tmp_path / "usr"
    raw.mkdir(), usr.mkdir()
    rng = np.random.RandomState(0)
    table = {}
    for key, name, n in [("train_images", "train-images-idx3-ubyte.gz", 24),
                         ("test_images", "t10k-images-idx3-ubyte.gz", 8)]:
        write_idx(str(raw / name), rng.randint(0, 256, (n, 8, 8)).astype(np.uint8))
        labels = name.replace("images-idx3", "labels-idx1")
        write_idx(str(raw / labels), (np.arange(n) % 10).astype(np.uint8))
        for k, f in ((key, name), (key.replace("images", "labels"), labels)):
            table[k] = (f, hashlib.sha256((raw / f).read_bytes()).hexdigest())
    (usr / "__init__.py").write_text(USR_DIR_CODE.format(table=table))
    out = tmp_path / "run"
    result = run("t2x_trainer", f"--t2x_usr_dir={usr}", "--generate_data", "--problem=image_tiny_gen",
                 "--model=imagetransformer", "--hparams_set=imagetransformer_test", f"--tmp_dir={raw}",
                 f"--data_dir={tmp_path / 'data'}", f"--output_dir={out}", "--train_steps=2", "--eval_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    bits = float(result.stdout.split("bits_per_dim ")[1].split(",")[0])
    assert 6.0 < bits < 9.0  # 2 steps: near log2(256) = 8
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "eval"), size_guidance={"tensors": 0})
    events.Reload()
    assert "samples" in events.Tags()["tensors"]
    samples = events.Tensors("samples")[-1].tensor_proto
    assert len(samples.string_val) == 2 + 10  # width, height, then one PNG per class
    assert samples.string_val[:2] == [b"16", b"16"]  # a 2x2 grid of 8x8 samples

    images = tmp_path / "images"
    result = run("t2x_decoder", f"--output_dir={out}", f"--image_dir={images}",
                 "--decode_hparams=num_samples=4,seed=5,batch_size=40")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 samples of each of 10 classes (50 PNG files, 8x8)" in result.stdout
    files = sorted(os.listdir(images))
    assert len(files) == 50 and "grid-3-3.png" in files and "sample-9-9-3.png" in files
    assert png_size(images / "sample-0-0-0.png") == (8, 8)
    assert png_size(images / "grid-0-0.png") == (16, 16)  # 4 samples: a 2 x 2 grid
    # The same seed in another process, to --decode_to_file's folder: the same pixels.
    again = tmp_path / "again"
    summary = decoder_lib.decode(str(out), decode_to_file=str(again / "ignored.txt"),
                                 decode_hparams="num_samples=4,seed=5,batch_size=40")
    assert "50 PNG files" in summary and sorted(os.listdir(again)) == files
    assert all((images / f).read_bytes() == (again / f).read_bytes() for f in files)

    # A classification model asked for images: refused with the fix (t2x-decoder --image_dir on
    # a text run prints it as one line: tests/scripts/bad_inputs_decoding.py).
    from t2x.inference.images import ImageSampler
    from t2x.model import model_for

    problem = registry.problem("image_mnist")
    hp = registry.hparams("basic_fc_tiny")()
    with pytest.raises(ImageGenerationError) as error:
        ImageSampler(model_for("basic_fc_relu", hp, problem.get_hparams(hp)), problem)
    message = str(error.value)
    assert message.startswith("image_mnist has image inputs and class_label targets, not pixels")
    assert "image_mnist_gen_conditional" in message and "\n" not in message
