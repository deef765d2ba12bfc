"""bAbI problems (problems/babi.py) on a tiny release made here in the real layout."""

import os
import tarfile

import gin
import numpy as np
import pytest

from t2x import registry
from t2x.data.problem import Mode, ProblemConfigError
from t2x.errors import DataError, DataMissingError
from t2x.problems import babi

# Each task's train file: 2 stories, 3 questions; test: 1 story, 2 questions (one with a word
# never seen in train, "Zed"). Task 8's test answers "milk,apple", never a train answer.
TRAIN = ("1 Mary moved to the bathroom.\n2 John went to the hallway.\n3 Where is Mary?\tbathroom\t1\n"
         "4 Daniel went back to the garden.\n5 Where is Daniel?\tgarden\t4\n"
         "1 Sandra journeyed to the office.\n2 Where is Sandra?\toffice\t1\n")
TEST = ("1 Zed moved to the kitchen.\n2 Mary went to the garden.\n3 Where is Zed?\tkitchen\t1\n"
        "4 Where is Mary?\t{answer}\t2\n")


def write_release(root, sizes=("en",), skip=()):
    """``root/tasks_1-20_v1-2/<size>/qaN_<name>_{train,test}.txt``; ``skip``: (size, task, kind)."""
    for size in sizes:
        folder = os.path.join(root, babi.RELEASE_DIR, size)
        os.makedirs(folder, exist_ok=True)
        for task, name in babi.TASK_FILES.items():
            for kind, text in (("train", TRAIN), ("test", TEST.format(answer="milk,apple" if task == 8 else "garden"))):
                if (size, task, kind) not in skip:
                    with open(os.path.join(folder, f"{name}_{kind}.txt"), "w") as f:
                        f.write(text)
    return str(root)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("babi_tmp"), sizes=("en", "en-10k"),
                         skip={("en-10k", 3, "train")})


def examples(problem, data_dir, split=None):
    return list(problem.dataset(Mode.EVAL, data_dir, dataset_split=split, deterministic=True))


def test_names_are_t2ts():
    names = registry.problems.names()
    assert {f"babi_qa_concat_task{t}_{s}" for t in range(1, 21) for s in ("1k", "10k")} <= set(names)
    assert {"babi_qa_concat_all_tasks_1k", "babi_qa_concat_all_tasks_10k"} <= set(names)
    assert registry.problem("babi_qa_concat_task3_10k").babi_task == 3
    assert registry.problem("babi_qa_concat_task3_10k").babi_size == "10k"


def test_single_task_format_and_vocabularies(release, tmp_path):
    data_dir = str(tmp_path / "data")
    problem = registry.problem("babi_qa_concat_task2_1k")
    assert not problem.joint and problem.dataset_filename() == "babi_qa_concat_task2_1k"
    problem.generate_data(data_dir, release)
    hp = problem.get_hparams(data_dir=data_dir)
    assert hp.modality == {"inputs": "symbol", "targets": "class_label"}
    enc = problem.get_feature_encoders(data_dir)
    assert enc["targets"].class_labels == ["<UNK>", "bathroom", "garden", "office"]  # train answers
    assert hp.vocab_size["targets"] == 4 and hp.vocab_size["inputs"] == enc["inputs"].vocab_size

    train = examples(problem, data_dir, "train")
    assert len(train) == 3
    texts = sorted(enc["inputs"].decode(ex["inputs"].numpy()[:-1]) for ex in train)
    assert texts[1] == ("Where is Mary ? <EOQ> Mary moved to the bathroom . John went to the hallway .")
    assert texts[0] == ("Where is Daniel ? <EOQ> Mary moved to the bathroom . John went to the hallway . "
                        "Daniel went back to the garden .")  # questions are left out of the story
    assert all(ex["inputs"].numpy()[-1] == 1 and ex["targets"].shape == (1,) for ex in train)

    dev = examples(problem, data_dir)  # dev = the task's test file
    assert len(dev) == 2
    by_label = {enc["targets"].decode(ex["targets"].numpy()): ex for ex in dev}
    assert set(by_label) == {"<UNK>", "garden"}  # kitchen never answers in train: class 0
    assert enc["inputs"].decode(by_label["<UNK>"]["inputs"].numpy()[:3]) == "Where is <UNK>"
    # The encoder normalizes raw text the way datagen does.
    assert enc["inputs"].encode("Where is Mary? <EOQ> Mary moved to the bathroom.") == \
        list(by_label["garden"]["inputs"].numpy()[:5]) + enc["inputs"].encode("Mary moved to the bathroom .")
    assert problem.eval_problems() == {"": problem}


def test_joint_training_is_an_explicit_gin_switch(release, tmp_path):
    data_dir = str(tmp_path / "data")
    with gin.unlock_config():
        gin.parse_config("BabiQaConcat.joint_training = True")
    try:
        problem = registry.problem("babi_qa_concat_task5_1k")
    finally:
        gin.clear_config()
    assert problem.joint and problem.dataset_filename() == "babi_qa_concat_task5_1k_joint"
    assert not registry.problem("babi_qa_concat_task5_1k").joint  # default: the task alone
    problem.generate_data(data_dir, release)
    assert len(examples(problem, data_dir, "train")) == 60  # every task's train file
    assert len(examples(problem, data_dir)) == 2  # evaluated on task 5 alone
    # One vocabulary for every joint problem of a size, all_tasks' (answers of all tasks).
    assert sorted(f for f in os.listdir(data_dir) if f.startswith("vocab.")) == [
        "vocab.babi_qa_concat_all_tasks_1k.answers", "vocab.babi_qa_concat_all_tasks_1k.words"]
    all_tasks = registry.problem("babi_qa_concat_all_tasks_1k")
    assert all_tasks.get_feature_encoders(data_dir)["inputs"].tokens == \
        problem.get_feature_encoders(data_dir)["inputs"].tokens


def test_all_tasks_reports_each_task(release, tmp_path):
    data_dir = str(tmp_path / "data")
    problem = registry.problem("babi_qa_concat_all_tasks_1k")
    problem.generate_data(data_dir, release)
    assert len(examples(problem, data_dir, "train")) == 60 and len(examples(problem, data_dir)) == 40
    views = problem.eval_problems()
    assert list(views) == [""] + [f"task_{t}" for t in range(1, 21)]
    enc = problem.get_feature_encoders(data_dir)
    for t in (1, 8, 20):
        dev = examples(views[f"task_{t}"], data_dir)
        assert len(dev) == 2
        labels = sorted(enc["targets"].decode(ex["targets"].numpy()) for ex in dev)
        assert labels == (["<UNK>", "<UNK>"] if t == 8 else ["<UNK>", "garden"])
    assert views["task_8"].element_spec(Mode.EVAL).keys() == {"inputs", "targets"}
    assert views["task_8"].full_name == "babi_qa_concat_all_tasks_1k/task_8"


def test_summarize_eval_counts_failed_tasks_as_the_ut_paper():
    problem = registry.problem("babi_qa_concat_all_tasks_10k")
    results = {"": {"accuracy": 0.9, "loss": 0.3}}
    accuracies = [1.0] * 17 + [0.96, 0.95, 0.5]  # 0.95: exactly 5 % error is not a failure
    results.update({f"task_{t}": {"accuracy": a} for t, a in zip(range(1, 21), accuracies)})
    summary = problem.summarize_eval(results)
    assert summary["failed_tasks"] == 1.0 and summary["tasks"] == 20.0
    assert summary["mean_error"] == pytest.approx((0.04 + 0.05 + 0.5) / 20)
    table = problem.eval_report(results)
    assert " 20    0.5000   50.0%  yes" in table and "failed tasks (error > 5%): 1" in table
    assert problem.summarize_eval({"": {"accuracy": 1.0}}) == {}


def test_reads_the_release_tarball(tmp_path):
    source = write_release(tmp_path / "src")
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    with tarfile.open(tmp_dir / babi.RELEASE_TAR, "w:gz") as tar:
        tar.add(os.path.join(source, babi.RELEASE_DIR), arcname=babi.RELEASE_DIR)
    problem = registry.problem("babi_qa_concat_task1_1k")
    problem.generate_data(str(tmp_path / "data"), str(tmp_dir))
    assert len(examples(problem, str(tmp_path / "data"), "train")) == 3
    assert os.path.isfile(tmp_dir / babi.RELEASE_DIR / "en" / "qa1_single-supporting-fact_train.txt")


def test_max_story_facts_keeps_the_last_facts(release, tmp_path):
    problem = registry.problems.get("babi_qa_concat_task1_1k")(max_story_facts=1)
    data_dir = str(tmp_path / "data")
    problem.generate_data(data_dir, release)
    enc = problem.get_feature_encoders(data_dir)
    texts = {enc["inputs"].decode(ex["inputs"].numpy()[:-1]) for ex in examples(problem, data_dir, "train")}
    assert "Where is Daniel ? <EOQ> Daniel went back to the garden ." in texts


def test_missing_file_is_one_line_naming_it(release, tmp_path):
    missing = os.path.join(release, babi.RELEASE_DIR, "en-10k", "qa3_three-supporting-facts_train.txt")
    for name in ("babi_qa_concat_task3_10k", "babi_qa_concat_all_tasks_10k"):
        with pytest.raises(DataMissingError) as e:
            registry.problem(name).generate_data(str(tmp_path / name), release)
        assert str(e.value).startswith(f"{missing}: no such file") and "\n" not in str(e.value)
    assert "allow_missing_train_tasks=True" in str(e.value)
    # The explicit opt-in trains without task 3 (its test is still evaluated).
    problem = registry.problems.get("babi_qa_concat_all_tasks_10k")(allow_missing_train_tasks=True)
    data_dir = str(tmp_path / "ok")
    problem.generate_data(data_dir, release)
    assert len(examples(problem, data_dir, "train")) == 57
    assert len(examples(problem.eval_problems()["task_3"], data_dir)) == 2
    with pytest.raises(DataMissingError, match="tasks_1-20_v1-2/ or tasks_1-20_v1-2.tar.gz"):
        registry.problem("babi_qa_concat_task1_1k").generate_data(str(tmp_path / "x"), str(tmp_path / "empty"))


@pytest.mark.parametrize("bad_line,message", [
    ("Mary moved to the kitchen.", "expected '<id> <text>'"),
    ("6 Where is Mary?\tkitchen", "3 tab-separated fields"),
    ("7 Mary moved to the kitchen.", "id 7 follows id 5"),
])
def test_malformed_line_is_one_line_with_file_and_line(tmp_path, bad_line, message):
    root = write_release(tmp_path / "tmp")
    path = os.path.join(root, babi.RELEASE_DIR, "en", "qa1_single-supporting-fact_train.txt")
    with open(path, "a") as f:
        f.write("1 Anne left.\n2 Bob left.\n3 Where is Bob?\tout\t2\n4 Carl left.\n5 Dan left.\n" + bad_line + "\n")
    with pytest.raises(DataError) as e:
        registry.problem("babi_qa_concat_task1_1k").generate_data(str(tmp_path / "data"), root)
    assert str(e.value).startswith(f"{path}:13: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_task_number_and_variants_are_refused():
    class BabiQaConcatTask21(babi.BabiQaConcat):
        babi_task = 21

    with pytest.raises(ProblemConfigError, match=r"babi_task = 21 is not a bAbI task: set 1\.\.20"):
        BabiQaConcatTask21()
    with pytest.raises(ProblemConfigError, match="_rev and _copy do not apply"):
        registry.problem("babi_qa_concat_task1_1k_rev")
    with pytest.raises(ProblemConfigError, match="max_story_facts must be >= 0"):
        registry.problems.get("babi_qa_concat_task1_1k")(max_story_facts=-1)
    assert np.isclose(babi.FAILED_ERROR, 0.05)
