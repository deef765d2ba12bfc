"""DeepMind Mathematics (problems/math_deepmind.py) on a tiny release made here in the real layout."""

import os
import tarfile

import pytest

from t2x import registry
from t2x.data.problem import Mode
from t2x.errors import DataError, DataMissingError
from t2x.problems import math_deepmind as mdm

NAME = "algorithmic_math_deepmind_all"


def write_release(root, odd_file=None):
    """Two modules in each train folder (3 pairs each), both in interpolate (2 pairs each),
    one in extrapolate (2 pairs): questions name their folder and module."""
    layout = {d: ("algebra__linear_1d", "arithmetic__mul") for d in mdm.TRAIN_DIRS + ("interpolate",)}
    layout["extrapolate"] = ("arithmetic__mul_big",)
    for folder, modules in layout.items():
        os.makedirs(os.path.join(root, mdm.RELEASE_DIR, folder), exist_ok=True)
        for module in modules:
            pairs = 3 if folder.startswith("train") else 2
            lines = [f"{folder} {module} question {i}?\n{i * 7}\n" for i in range(pairs)]
            if (folder, module) == odd_file:
                lines.append("What is 2 + 2?\n")
            with open(os.path.join(root, mdm.RELEASE_DIR, folder, module + ".txt"), "w") as f:
                f.writelines(lines)
    return str(root)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("dm_math")
    tmp_dir = write_release(root / "tmp")
    problem = registry.problem(NAME)
    problem.generate_data(str(root / "data"), tmp_dir)
    return problem, str(root / "data")


def texts(problem, data_dir, split=None):
    enc = problem.get_feature_encoders(data_dir)
    return sorted((enc["inputs"].decode(ex["inputs"].numpy()[:-1]), enc["targets"].decode(ex["targets"].numpy()[:-1]))
                  for ex in problem.dataset(Mode.EVAL, data_dir, dataset_split=split))


def test_splits_vocabulary_and_examples(generated):
    problem, data_dir = generated
    hp = problem.get_hparams(data_dir=data_dir)
    assert hp.vocab_size == {"inputs": 258, "targets": 258}  # characters (bytes) + PAD, EOS
    train = texts(problem, data_dir, "train")
    assert len(train) == 3 * 2 * 3  # easy + medium + hard, 2 modules, 3 pairs
    assert ("train-hard arithmetic__mul question 2?", "14") in train
    dev = texts(problem, data_dir)  # T2T's dev: interpolate and extrapolate together
    assert len(dev) == 2 * 2 + 2 and {q.split()[0] for q, _ in dev} == {"interpolate", "extrapolate"}
    assert problem.missing_shards(data_dir) == []  # module splits are optional


def test_each_module_is_reported_apart_interpolate_and_extrapolate(generated):
    problem, data_dir = generated
    problem.get_hparams(data_dir=data_dir)  # the trainer's order: hparams, then eval problems
    views = problem.eval_problems()
    assert list(views) == ["", "interpolate/algebra__linear_1d", "interpolate/arithmetic__mul",
                           "extrapolate/arithmetic__mul_big"]
    for name, view in list(views.items())[1:]:
        folder, module = name.split("/")
        rows = texts(view, data_dir)
        assert len(rows) == 2 and all(q.startswith(f"{folder} {module} ") for q, _ in rows)


def test_summarize_eval_and_the_module_table():
    problem = registry.problem(NAME)
    results = {"": {"accuracy_per_sequence": 0.5},
               "interpolate/algebra__linear_1d": {"accuracy_per_sequence": 0.9, "accuracy": 0.95},
               "interpolate/arithmetic__mul": {"accuracy_per_sequence": 0.5, "accuracy": 0.75},
               "extrapolate/arithmetic__mul_big": {"accuracy_per_sequence": 0.1, "accuracy": 0.5}}
    summary = problem.summarize_eval(results)
    assert summary == pytest.approx({"interpolate/mean_accuracy_per_sequence": 0.7,
                                     "interpolate/mean_accuracy": 0.85, "interpolate/modules": 2.0,
                                     "extrapolate/mean_accuracy_per_sequence": 0.1,
                                     "extrapolate/mean_accuracy": 0.5, "extrapolate/modules": 1.0})
    table = problem.eval_report(results).splitlines()
    assert table[0] == "accuracy_per_sequence per module"
    assert table[2].split() == ["algebra__linear_1d", "0.9000", "-"]
    assert table[4].split() == ["arithmetic__mul_big", "-", "0.1000"]
    assert table[-1].split() == ["mean", "over", "modules", "0.7000", "0.1000"]
    assert problem.summarize_eval({"": {"accuracy": 1.0}}) == {} and problem.eval_report({}) == ""


def test_reads_the_release_tarball(tmp_path):
    source = write_release(tmp_path / "src")
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    with tarfile.open(tmp_dir / mdm.RELEASE_TAR, "w:gz") as tar:
        tar.add(os.path.join(source, mdm.RELEASE_DIR), arcname=mdm.RELEASE_DIR)
    problem = registry.problem(NAME)
    problem.generate_data(str(tmp_path / "data"), str(tmp_dir))
    assert len(texts(problem, str(tmp_path / "data"), "extrapolate-arithmetic__mul_big")) == 2


def test_odd_number_of_lines_is_one_line_with_file_and_line(tmp_path):
    tmp_dir = write_release(tmp_path / "tmp", odd_file=("train-medium", "arithmetic__mul"))
    with pytest.raises(DataError) as e:
        registry.problem(NAME).generate_data(str(tmp_path / "data"), tmp_dir)
    path = os.path.join(tmp_dir, mdm.RELEASE_DIR, "train-medium", "arithmetic__mul.txt")
    assert str(e.value).startswith(f"{path}:7: question 'What is 2 + 2?' has no answer line")
    assert "\n" not in str(e.value)


def test_missing_release_is_one_line_naming_the_folder(tmp_path):
    with pytest.raises(DataMissingError) as e:
        registry.problem(NAME).generate_data(str(tmp_path / "data"), str(tmp_path / "tmp"))
    message = str(e.value)
    assert message.startswith(os.path.join(str(tmp_path / "tmp"), mdm.RELEASE_DIR) + ": no train-easy/")
    assert "mathematics_dataset-v1.0.tar.gz" in message and "\n" not in message


def test_release_module_lists():
    assert len(mdm.INTERPOLATE_MODULES) == 56 and len(set(mdm.INTERPOLATE_MODULES)) == 56
    assert len(mdm.EXTRAPOLATE_MODULES) == 15
    assert "numbers__place_value_composed" in mdm.INTERPOLATE_MODULES


def test_decoder_prints_the_module_table_from_real_decodes(generated, monkeypatch):
    import keras

    from t2x.inference.decoder import SequenceDecoder, parse_decode_hparams, views_report
    from t2x.model import create_model

    problem, data_dir = generated
    keras.utils.set_random_seed(0)
    hp = registry.hparams("transformer_test")()
    model = create_model(problem, "transformer", hp, data_dir)
    decoder = SequenceDecoder(model, problem, data_dir, parse_decode_hparams("extra_length=2"))
    report = views_report(decoder)  # an untrained model: real decodes, whatever they say
    lines = report.splitlines()
    assert lines[0] == "decoded exact match, per view:"
    assert lines[1] == "accuracy_per_sequence per module"
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert set(rows) == {"algebra__linear_1d", "arithmetic__mul", "arithmetic__mul_big", "mean"}
    assert rows["arithmetic__mul_big"][0] == "-"  # extrapolate only
    real_split = SequenceDecoder.decode_split

    def right_only_for_mul(self, split="dev", max_examples=0, problem=None):
        hypotheses, references = real_split(self, split, max_examples, problem)
        right = problem is not None and problem.view_name == "interpolate/arithmetic__mul"
        return (references if right else [r + "x" for r in references]), references

    monkeypatch.setattr(SequenceDecoder, "decode_split", right_only_for_mul)
    rows = {line.split()[0]: line.split()[1:] for line in views_report(decoder).splitlines()[3:]}
    assert rows["arithmetic__mul"] == ["1.0000", "-"]
    assert rows["algebra__linear_1d"] == ["0.0000", "-"]
    assert rows["arithmetic__mul_big"] == ["-", "0.0000"]
    assert rows["mean"] == ["over", "modules", "0.5000", "0.0000"]
