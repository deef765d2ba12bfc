"""tfds:<name> problems: TFDS builders written here (a --t2x_usr_dir), prepared offline by
t2x-datagen into a temp --tfds_data_dir, trained, evaluated and decoded through the binaries."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1", NO_PROXY="*",
           HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")

BUILDERS = textwrap.dedent('''
    import numpy as np
    import tensorflow_datasets as tfds

    WORDS = {"one": "eins", "two": "zwei", "three": "drei", "dog": "hund", "cat": "katze", "red": "rot"}


    class TinyDigitsTfds(tfds.core.GeneratorBasedBuilder):
        """Image + ClassLabel: the label says which part of the image is bright."""
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=["dark", "grey", "bright"])}),
                supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(90, 0), "test": self._generate_examples(30, 1)}

        def _generate_examples(self, n, seed):
            rng = np.random.RandomState(seed)
            for i in range(n):
                label = i % 3
                image = rng.rand(8, 8, 1) * 40
                if label == 0:
                    image[:4] += 150  # top half
                elif label == 1:
                    image[:, :4] += 150  # left half
                else:
                    image[4:, 4:] += 150  # bottom-right quarter
                yield i, {"image": image.astype(np.uint8), "label": label}


    class TinyReviewsTfds(tfds.core.GeneratorBasedBuilder):
        """Text + ClassLabel, no supervised keys (t2x is told which is which)."""
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=["neg", "pos"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(80), "validation": self._generate_examples(20)}

        def _generate_examples(self, n):
            for i in range(n):
                good = i % 2
                yield i, {"text": ("a great fun film" if good else "a dull bad film") + " !" * (i % 3),
                          "label": good}


    class TinyTranslateTfds(tfds.core.GeneratorBasedBuilder):
        """Translation en -> de, word by word."""
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.Translation(languages=("en", "de")), supervised_keys=("en", "de"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(200, 0), "validation": self._generate_examples(12, 1)}

        def _generate_examples(self, n, seed):
            rng = np.random.RandomState(seed)
            words = sorted(WORDS)
            for i in range(n):
                en = [words[j] for j in rng.randint(0, len(words), size=rng.randint(1, 5))]
                yield i, {"en": " ".join(en), "de": " ".join(WORDS[w] for w in en)}
    ''')


def run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"t2x.scripts.{module}", *args], capture_output=True,
                          text=True, env=ENV, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def tfds_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    usr = root / "tfds_usr"
    usr.mkdir()
    (usr / "__init__.py").write_text(BUILDERS)
    return root, [f"--t2x_usr_dir={usr}", f"--tfds_data_dir={root / 'tfds'}", f"--data_dir={root / 'data'}"]


def prepare(tfds_env, name, *gin):
    root, common = tfds_env
    result = run("t2x_datagen", f"--problem=tfds:{name}", *common, f"--tmp_dir={root / 'tmp'}", *gin)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "tfds" / name / "1.0.0" / "dataset_info.json").exists()
    return result


def test_image_classlabel_builder_trains_and_evaluates(tfds_env):
    root, common = tfds_env
    prepare(tfds_env, "tiny_digits_tfds")
    result = run("t2x_trainer", "--problem=tfds:tiny_digits_tfds", "--model=basic_fc_relu",
                 "--hparams_set=basic_fc_tiny", *common, f"--output_dir={root / 'digits'}", "--train_steps=40",
                 "--eval_steps=0", "--hparams=batch_size=16,learning_rate_schedule=constant,learning_rate_constant=0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = dict(item.split(" ") for item in result.stdout.split("done at step 40: ")[1].strip().split(", "))
    assert float(metrics["accuracy"]) > 0.9  # the bright part tells the class
    assert float(metrics["eval_batches"]) == 2.0  # the 30 test images (dev = test: no validation split)
    assert not list(root.glob("data/*tiny_digits*"))  # read through TFDS: nothing copied into t2x shards


def test_text_classlabel_builder_with_keys_from_gin(tfds_env):
    root, common = tfds_env
    gin = ["--gin_param=TfdsProblem.inputs_key='text'", "--gin_param=TfdsProblem.targets_key='label'",
           "--gin_param=TfdsProblem.approx_vocab_size=40"]
    prepare(tfds_env, "tiny_reviews_tfds", *gin)
    vocab = [n for n in os.listdir(root / "data") if n.startswith("vocab.tfds_tiny_reviews_tfds")]
    assert vocab == ["vocab.tfds_tiny_reviews_tfds.40.subword"]
    from t2x import catalogue, registry
    from t2x.data.problem import ProblemConfigError

    catalogue.import_usr_dir(common[0].split("=", 1)[1])
    unkeyed = registry.problem("tfds:tiny_reviews_tfds")
    unkeyed.tfds_data_dir = str(root / "tfds")
    with pytest.raises(ProblemConfigError, match=r"names no supervised keys.*text \(Text\), label \(ClassLabel\)"):
        unkeyed.keys
    result = run("t2x_trainer", "--problem=tfds:tiny_reviews_tfds", "--model=transformer",
                 "--hparams_set=transformer_test", *common, *gin, f"--output_dir={root / 'reviews'}",
                 "--train_steps=20", "--eval_steps=0",
                 "--hparams=batch_size=256,learning_rate_schedule=constant,learning_rate_constant=0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = dict(item.split(" ") for item in result.stdout.split("done at step 20: ")[1].strip().split(", "))
    assert float(metrics["accuracy"]) >= 0.9


def test_translation_builder_trains_and_decodes(tfds_env):
    root, common = tfds_env
    gin = ["--gin_param=TfdsProblem.vocab_type='token'", "--gin_param=TfdsProblem.approx_vocab_size=20"]
    prepare(tfds_env, "tiny_translate_tfds", *gin)
    result = run("t2x_trainer", "--problem=tfds:tiny_translate_tfds", "--model=transformer",
                 "--hparams_set=transformer_test", *common, *gin, f"--output_dir={root / 'translate'}",
                 "--train_steps=30", "--eval_steps=0",
                 "--hparams=batch_size=512,learning_rate_schedule=constant,learning_rate_constant=0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    split = run("t2x_decoder", f"--output_dir={root / 'translate'}", "--decode_split=dev",
                f"--decode_to_file={root / 'dev.de'}", "--decode_hparams=extra_length=4")
    assert split.returncode == 0 and "dev: 12 sentences, BLEU" in split.stdout, split.stderr[-2000:]
    outputs = (root / "dev.de").read_text().splitlines()
    assert len(outputs) == 12 and all(set(o.split()) <= {"eins", "zwei", "drei", "hund", "katze", "rot", "<UNK>"}
                                      for o in outputs)


def test_unprepared_dataset_offline_fails_fast_in_one_line(tmp_path):
    from t2x import registry
    from t2x.data.problem import DataMissingError

    problem = registry.problem("tfds:mnist")
    problem.tfds_data_dir = str(tmp_path)
    start = time.monotonic()  # the lookup itself (TFDS would retry its download for ~200 s)
    with pytest.raises(DataMissingError, match="tfds:mnist is not prepared in"):
        problem.missing_shards(str(tmp_path / "data"))
    # Far below TFDS's ~200 s of retries; not tighter: under the suite's load the lookup's
    # first imports of TFDS's builders took 40 s once on 2 busy cores (12 s alone).
    assert time.monotonic() - start < 90
    result = run("t2x_trainer", "--problem=tfds:mnist", "--model=basic_fc_relu", f"--tfds_data_dir={tmp_path}",
                 f"--data_dir={tmp_path / 'data'}", f"--output_dir={tmp_path / 'out'}", timeout=60)
    line = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, result.stderr[-2000:]
    assert line.startswith("t2x-trainer: error: tfds:mnist is not prepared in ") and str(tmp_path) in line
    assert "t2x-datagen --problem=tfds:mnist" in line and "tfds build mnist" in line
    assert not (tmp_path / "out").exists()
    typo = run("t2x_trainer", "--problem=tfds:mnistt", "--model=basic_fc_relu", f"--tfds_data_dir={tmp_path}")
    assert typo.returncode == 1 and "did you mean" in typo.stderr.strip().splitlines()[-1]


def test_unknown_config_version_and_bad_splits_are_one_line_before_training(tfds_env):
    from t2x import catalogue, registry
    from t2x.data.problem import ProblemConfigError

    root, common = tfds_env
    prepare(tfds_env, "tiny_digits_tfds")  # train and test splits, no validation
    catalogue.import_usr_dir(common[0].split("=", 1)[1])
    for spec, message in (("mnist/nope", "tfds:mnist/nope: mnist has no configs (no /nope): --problem=tfds:mnist"),
                          ("mnist:99.0.0", "mnist has no version 99.0.0; it has 3.0.1: --problem=tfds:mnist:3.0.1"),
                          ("mnist:latest", "'latest' is not a version (<major>.<minor>.<patch>); mnist has 3.0.1"),
                          ("tiny_digits_tfds:2.0.0", "tiny_digits_tfds has no version 2.0.0; it has 1.0.0")):
        problem = registry.problem(f"tfds:{spec}")
        problem.tfds_data_dir = str(root / "tfds")
        with pytest.raises(ProblemConfigError) as info:
            problem.builder
        assert message in str(info.value)

    def digits(**splits):
        problem = registry.problem("tfds:tiny_digits_tfds")
        problem.tfds_data_dir = str(root / "tfds")
        problem.splits.update(splits)
        return problem

    digits().check_splits()  # dev: no validation split, so test
    digits(dev="train[-10:]", test="test[:50%]").check_splits()
    for splits, message in (({"dev": "train[:abc]"}, "TfdsProblem.dev_split='train[:abc]': Error parsing split "
                                                     "'train[:abc]'; its splits: train (90), test (30)"),
                            ({"train": "nosuchsplit"}, "TfdsProblem.train_split='nosuchsplit': Unknown split "
                                                       "'nosuchsplit'"),
                            ({"dev": "train[5:2]"}, "TfdsProblem.dev_split='train[5:2]' selects no examples"),
                            ({"test": "validation"}, "TfdsProblem.test_split='validation': Unknown split")):
        with pytest.raises(ProblemConfigError) as info:
            digits(**splits).check_splits()
        assert message in str(info.value)
    with pytest.raises(ProblemConfigError, match="dev_split='train\\[:abc\\]'"):  # the trainer's start path
        digits(dev="train[:abc]").missing_shards(str(root / "data"), ["train", "dev"])
    digits(dev="train[:abc]").missing_shards(str(root / "data"), ["train"])  # a train-only schedule
