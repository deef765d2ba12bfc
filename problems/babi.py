"""bAbI question answering (Weston et al. 2015, v1.2) under T2T's names.

    babi_qa_concat_task{1..20}_{1k,10k}      one task (train on it alone by default)
    babi_qa_concat_all_tasks_{1k,10k}        the 20 tasks together (joint), reported per task

Data: the release read from ``--tmp_dir``: its folder ``tasks_1-20_v1-2/`` (``en/`` for 1k,
``en-10k/`` for 10k; files ``qaN_<name>_{train,test}.txt``) or the release tarball
``tasks_1-20_v1-2.tar.gz`` (extracted there once). Nothing is downloaded. A missing file is
one line naming it; so is a malformed line (``file:line``).

Format (T2T's ``BabiQaConcat``): one example per question.

* ``inputs``: the question, T2T's separator ``<EOQ>``, then every fact of its story so far
  (questions left out), each tokenized by T2T's tokenizer (``Where is Mary?`` ->
  ``Where is Mary ?``), word ids + EOS. T2T kept the whole story; so does the default here.
  Stories are long in some tasks: inputs reach 70 tokens (task 1), 348 (task 2), 632 (task 5)
  and 1,341 (task 3, 224 facts) in ``en`` train, 789 (task 5) in ``en-10k``. Mind the model's
  ``max_length`` (training drops longer examples), or keep the last N facts with
  ``--gin_param=BabiQaConcat.max_story_facts=N`` (0: all, T2T's).
* ``targets``: the answer as one class label over the answers of train (``n,s`` of task 19 or
  ``apple,milk`` of task 8 are one class each). Class 0 is ``<UNK>``: a dev answer never seen in
  train (``en`` task 8 test has one, ``football,apple,milk``) gets it, and counts as an error.
* Word vocabulary: the tokens of train (stories and questions), most frequent first (T2T also
  read test); a dev word never seen in train becomes ``<UNK>``.
* dev = the release's test file (T2T's; the release has no dev split).

Joint training is an explicit switch, not a hidden default (T2T trained even ``task1`` on all
20 tasks): ``--gin_param=BabiQaConcat.joint_training=True`` makes ``babi_qa_concat_taskN_*``
train on every task's train file and evaluate on task N's test. Its files then take the name
``babi_qa_concat_taskN_<size>_joint`` and every joint problem of a size shares one word and
one answer vocabulary (``vocab.babi_qa_concat_all_tasks_<size>.{words,answers}``), so a model
trained jointly reads every task. ``all_tasks`` problems are joint by definition.

Evaluation of ``all_tasks`` reports each task apart (``eval/task_<N>/accuracy``, from per-task
dev shards ``dev_task<N>`` written at datagen) and, across them, ``eval/mean_error`` and
``eval/failed_tasks`` (error > 5 %, as the Universal Transformer paper counts them);
``eval_report(results)`` renders the table.

The team's copy lacks ``en-10k/qa3`` train: a 10k problem that needs it stops with one line
naming it; ``--gin_param=BabiQaConcat.allow_missing_train_tasks=True`` trains a joint 10k
problem without the tasks whose train file is missing (their test is still evaluated).
"""

import collections
import os
from typing import Dict, Iterator, List

import gin
from absl import logging

from t2x import fileio, registry
from t2x.data import download, text_lines, tokenizer
from t2x.data.problem import DatasetSplit, ModalityType, ProblemConfigError, SplitSpec
from t2x.data.text_encoder import EOS_ID, ClassLabelEncoder, TokenTextEncoder
from t2x.data.text_problems import Text2ClassProblem
from t2x.data.views import ProblemView
from t2x.errors import DataError, DataMissingError

RELEASE_DIR = "tasks_1-20_v1-2"
RELEASE_TAR = RELEASE_DIR + ".tar.gz"
SUBSETS = {"1k": "en", "10k": "en-10k"}
TASK_FILES = {  # the release's file names (T2T's table)
    1: "qa1_single-supporting-fact", 2: "qa2_two-supporting-facts", 3: "qa3_three-supporting-facts",
    4: "qa4_two-arg-relations", 5: "qa5_three-arg-relations", 6: "qa6_yes-no-questions",
    7: "qa7_counting", 8: "qa8_lists-sets", 9: "qa9_simple-negation", 10: "qa10_indefinite-knowledge",
    11: "qa11_basic-coreference", 12: "qa12_conjunction", 13: "qa13_compound-coreference",
    14: "qa14_time-reasoning", 15: "qa15_basic-deduction", 16: "qa16_basic-induction",
    17: "qa17_positional-reasoning", 18: "qa18_size-reasoning", 19: "qa19_path-finding",
    20: "qa20_agents-motivations"}
QUESTION_SEPARATOR = "<EOQ>"  # T2T's, between the question and its story
UNK = "<UNK>"
FAILED_ERROR = 0.05  # a task fails above 5 % error (Weston et al.; the UT paper)


def failed(error: float) -> bool:
    """A task with this error (1 - accuracy) fails: above 5 %, 950/1000 right not failing
    (``1 - 0.95`` is 0.05000000000000004 in floating point: compared at 1e-9)."""
    return error > FAILED_ERROR + 1e-9


def normalize(text: str) -> str:
    """T2T's normalization: tokens of T2T's tokenizer, stripped, joined by one space."""
    return " ".join(t for t in (tok.strip() for tok in tokenizer.encode(text)) if t)


def read_stories(path: str, max_story_facts: int = 0) -> Iterator[Dict[str, str]]:
    """Host: ``{"question", "story", "answer", "where"}`` for each question line of a bAbI
    file (``where`` is ``file:line``), the story being its facts so far, normalized, the
    last ``max_story_facts`` of them when positive. A line that is not ``<id> <text>``, an
    id that neither restarts at 1 nor follows the previous one, or a question line that is
    not ``<question>\\t<answer>\\t<supporting ids>`` raises a one-line ``DataError``."""
    fix = "each line is '<id> <text>', a question line '<id> <question>\\t<answer>\\t<ids>'"
    story: List[str] = []
    previous = 0
    for n, line in text_lines.read_lines(path, "", fix=f"put the bAbI v1.2 release in --tmp_dir ({fix})"):
        if not line.strip():
            continue
        number, _, text = line.partition(" ")
        if not number.isdigit() or not text.strip():
            raise DataError(f"{path}:{n}: expected '<id> <text>', got {line[:60]!r}: {fix}")
        number = int(number)
        if number == 1:
            story = []
        elif number != previous + 1:
            raise DataError(f"{path}:{n}: id {number} follows id {previous} (ids count from 1 in "
                            f"each story): {fix}")
        previous = number
        if "\t" not in text:
            story.append(normalize(text))
            continue
        fields = text.split("\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            raise DataError(f"{path}:{n}: a question line has 3 tab-separated fields "
                            f"(question, answer, supporting ids), got {len(fields)}: {line[:60]!r}")
        facts = story[-max_story_facts:] if max_story_facts > 0 else story
        yield {"question": normalize(fields[0]), "story": " ".join(facts),
               "answer": fields[1].strip(), "where": f"{path}:{n}"}


class BabiWordEncoder(TokenTextEncoder):
    """The word vocabulary; ``encode`` normalizes raw text first (T2T's tokenizer), keeping
    ``<EOQ>`` whole, so ``"Where is Mary? <EOQ> Mary went home."`` encodes as datagen does."""

    def encode(self, s: str) -> List[int]:
        parts = [normalize(part) for part in s.split(QUESTION_SEPARATOR)]
        return super().encode(f" {QUESTION_SEPARATOR} ".join(parts))


@gin.configurable
class BabiQaConcat(Text2ClassProblem):
    """Base of the bAbI problems (module docstring). Subclasses set ``babi_task`` (1..20,
    0: all tasks) and ``babi_size`` (``"1k"`` or ``"10k"``).

    joint_training: train on every task (evaluate on this one); ``all_tasks`` always is.
    max_story_facts: keep the last N facts of a story (0: all, T2T's).
    allow_missing_train_tasks: joint training leaves out tasks whose train file is missing.
    """

    babi_task = 0
    babi_size = "1k"

    def __init__(self, was_reversed: bool = False, was_copy: bool = False, *,
                 joint_training: bool = False, max_story_facts: int = 0,
                 allow_missing_train_tasks: bool = False):
        super().__init__(was_reversed=was_reversed, was_copy=was_copy)
        if was_reversed or was_copy:
            raise ProblemConfigError(f"{self.full_name}: bAbI answers are class labels; _rev and _copy "
                                     "do not apply (drop the suffix)")
        if self.babi_task not in TASK_FILES and self.babi_task != 0:
            raise ProblemConfigError(f"{type(self).__name__}.babi_task = {self.babi_task!r} is not a bAbI "
                                     "task: set 1..20, or 0 for all tasks")
        if self.babi_size not in SUBSETS:
            raise ProblemConfigError(f"{type(self).__name__}.babi_size = {self.babi_size!r}: set one of "
                                     f"{', '.join(SUBSETS)}")
        if max_story_facts < 0:
            raise ProblemConfigError(f"BabiQaConcat.max_story_facts must be >= 0 (0: every fact), "
                                     f"got {max_story_facts}")
        self.joint_training = bool(joint_training)
        self.max_story_facts = int(max_story_facts)
        self.allow_missing_train_tasks = bool(allow_missing_train_tasks)

    @property
    def joint(self) -> bool:
        """True when training reads every task (``all_tasks``, or ``joint_training``)."""
        return self.babi_task == 0 or self.joint_training

    @property
    def tasks(self) -> List[int]:
        """The tasks of dev: this one, or all 20."""
        return [self.babi_task] if self.babi_task else list(TASK_FILES)

    def dataset_filename(self) -> str:
        return self.name + ("_joint" if self.joint and self.babi_task else "")

    @property
    def vocab_prefix(self) -> str:
        """Joint problems of a size share ``all_tasks``' vocabularies."""
        return f"babi_qa_concat_all_tasks_{self.babi_size}" if self.joint else self.name

    def vocab_paths(self, data_dir: str) -> Dict[str, str]:
        return {kind: os.path.join(data_dir, f"vocab.{self.vocab_prefix}.{kind}") for kind in ("words", "answers")}

    @property
    def dataset_splits(self):
        per_task = [SplitSpec(f"dev_task{t}", 1) for t in self.tasks] if len(self.tasks) > 1 else []
        return [SplitSpec(DatasetSplit.TRAIN, 10), SplitSpec(DatasetSplit.EVAL, 1)] + per_task

    # -- the release's files ------------------------------------------------------------
    def task_file(self, tmp_dir: str, task: int, kind: str) -> str:
        """``<tmp_dir>/tasks_1-20_v1-2/<en|en-10k>/qaN_<name>_<kind>.txt``."""
        return os.path.join(tmp_dir, RELEASE_DIR, SUBSETS[self.babi_size], f"{TASK_FILES[task]}_{kind}.txt")

    def _missing(self, path: str, tmp_dir: str, extra: str = "") -> DataMissingError:
        return DataMissingError(f"{path}: no such file; {self.name} reads the bAbI v1.2 release from "
                                f"--tmp_dir={tmp_dir} ({RELEASE_DIR}/ or {RELEASE_TAR}){extra}")

    def source_files(self, tmp_dir: str, dataset_split: str) -> List[str]:
        """Host: the release files a split reads, each checked to exist (one-line error)."""
        if dataset_split == DatasetSplit.TRAIN:
            tasks = list(TASK_FILES) if self.joint else [self.babi_task]
            paths = [self.task_file(tmp_dir, t, "train") for t in tasks]
            present = [p for p in paths if os.path.isfile(p)]
            if self.joint and self.allow_missing_train_tasks and present:
                for p in sorted(set(paths) - set(present)):
                    logging.warning("%s: no such file; joint training leaves its task out "
                                    "(allow_missing_train_tasks)", p)
                return present
            for p in paths:
                if not os.path.isfile(p):
                    extra = ("; or train jointly without it: --gin_param=BabiQaConcat."
                             "allow_missing_train_tasks=True") if self.joint else ""
                    raise self._missing(p, tmp_dir, extra)
            return paths
        if dataset_split == DatasetSplit.EVAL:
            tasks = self.tasks
        elif dataset_split.startswith("dev_task") and dataset_split[8:].isdigit():
            tasks = [int(dataset_split[8:])]
        else:
            raise ProblemConfigError(f"{self.name} has no split {dataset_split!r}")
        paths = [self.task_file(tmp_dir, t, "test") for t in tasks]
        for p in paths:
            if not os.path.isfile(p):
                raise self._missing(p, tmp_dir)
        return paths

    def prepare_data(self, data_dir, tmp_dir):
        """Host, once: extracts ``tasks_1-20_v1-2.tar.gz`` in ``tmp_dir`` when its folder is
        not there, then builds the word and answer vocabularies from train unless
        ``data_dir`` has them (joint problems share ``all_tasks``' files)."""
        folder, tarball = os.path.join(tmp_dir, RELEASE_DIR), os.path.join(tmp_dir, RELEASE_TAR)
        if not os.path.isdir(folder) and os.path.isfile(tarball):
            logging.info("extracting %s into %s", tarball, tmp_dir)
            download.extract_archive(tarball, tmp_dir)
        paths = self.vocab_paths(data_dir)
        if all(os.path.exists(p) for p in paths.values()):
            return
        words, answers = collections.Counter(), set()
        for path in self.source_files(tmp_dir, DatasetSplit.TRAIN):
            for sample in read_stories(path):
                words.update(sample["question"].split())
                words.update(sample["story"].split())
                answers.add(sample["answer"])
        ordered = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))
                   if w not in (UNK, QUESTION_SEPARATOR)]
        TokenTextEncoder(None, vocab_list=[UNK, QUESTION_SEPARATOR] + ordered).store_to_file(paths["words"])
        fileio.write_lines_atomic(paths["answers"], [UNK] + sorted(answers - {UNK}))

    # -- samples ---------------------------------------------------------------------
    def generate_samples(self, data_dir, tmp_dir, dataset_split):
        """Host: ``{"inputs": "<question> <EOQ> <story>", "answer": str}`` per question of the
        split's files, in file order (train: task 1's file first when joint)."""
        del data_dir
        for path in self.source_files(tmp_dir, dataset_split):
            for sample in read_stories(path, self.max_story_facts):
                yield {"inputs": f"{sample['question']} {QUESTION_SEPARATOR} {sample['story']}".strip(),
                       "answer": sample["answer"]}

    def encode_sample(self, sample, encoders):
        """Word ids + EOS; the answer's class (0, ``<UNK>``, for an answer not seen in train)."""
        labels = encoders["targets"]
        answer = sample["answer"]
        label = labels.encode(answer) if answer in labels.class_labels else 0
        return {"inputs": encoders["inputs"].encode(sample["inputs"]) + [EOS_ID], "targets": [label]}

    def text_of_sample(self, sample):
        yield sample["inputs"]

    # -- features --------------------------------------------------------------------
    def feature_encoders(self, data_dir):
        """``{"inputs": BabiWordEncoder, "targets": ClassLabelEncoder}`` from ``data_dir``'s
        vocabularies (written by ``prepare_data``)."""
        paths = self.vocab_paths(data_dir or "")
        for path in paths.values():
            if not data_dir or not os.path.exists(path):
                raise DataMissingError(f"vocabulary {path} is missing; generate the data first "
                                       f"(t2x-datagen --problem={self.name} --data_dir=... --tmp_dir=...)")
        with open(paths["answers"], encoding="utf-8") as f:
            answers = [line.rstrip("\n") for line in f if line.strip()]
        return {"inputs": BabiWordEncoder(paths["words"], replace_oov=UNK),
                "targets": ClassLabelEncoder(answers)}

    @property
    def class_labels(self) -> List[str]:
        """The answers (``<UNK>`` first) of the data_dir of the last ``get_hparams``."""
        return self.get_feature_encoders(self._last_data_dir)["targets"].class_labels

    def hparams(self, defaults, model_hparams):
        del model_hparams
        encoders = self.feature_encoders(defaults.data_dir)
        defaults.modality = {"inputs": ModalityType.SYMBOL, "targets": ModalityType.CLASS_LABEL}
        defaults.vocab_size = {"inputs": encoders["inputs"].vocab_size,
                               "targets": encoders["targets"].vocab_size}
        defaults.stop_at_eos = True

    # -- evaluation ------------------------------------------------------------------
    def eval_problems(self):
        """Host: ``{"": self}``, and for ``all_tasks`` one view per task,
        ``{"task_<N>": view of split dev_task<N>}`` (reported as ``eval/task_<N>/...``)."""
        views = {"": self}
        if len(self.tasks) > 1:
            views.update({f"task_{t}": ProblemView(self, f"task_{t}", dataset_split=f"dev_task{t}")
                          for t in self.tasks})
        return views

    def summarize_eval(self, results):
        """Host, after an evaluation: ``{"mean_error", "failed_tasks", "tasks"}`` over the
        ``task_<N>`` results (error = 1 - accuracy; failed: error > 5 %); ``{}`` when none."""
        errors = task_errors(results)
        if not errors:
            return {}
        return {"mean_error": sum(errors.values()) / len(errors),
                "failed_tasks": float(sum(failed(e) for e in errors.values())),
                "tasks": float(len(errors))}

    def eval_report(self, results) -> str:
        """Host: the per-task table of ``results`` (as ``summarize_eval`` receives them)."""
        errors = task_errors(results)
        if not errors:
            return ""
        lines = ["task  accuracy  error   failed"]
        for t, e in sorted(errors.items()):
            lines.append(f"{t:>4}  {1 - e:8.4f}  {100 * e:5.1f}%  {'yes' if failed(e) else ''}")
        summary = self.summarize_eval(results)
        lines.append(f"mean error {100 * summary['mean_error']:.2f}% over {len(errors)} tasks; "
                     f"failed tasks (error > 5%): {int(summary['failed_tasks'])}")
        return "\n".join(lines) + "\n"


def task_errors(results: Dict[str, Dict[str, float]]) -> Dict[int, float]:
    """``{task: 1 - accuracy}`` of the ``task_<N>`` entries of ``results`` that have an accuracy."""
    errors = {}
    for name, metrics in results.items():
        if name.startswith("task_") and name[5:].isdigit() and "accuracy" in metrics:
            errors[int(name[5:])] = 1.0 - float(metrics["accuracy"])
    return errors


def _register_problems() -> Dict[str, type]:
    """``babi_qa_concat_task{1..20}_{1k,10k}`` and ``babi_qa_concat_all_tasks_{1k,10k}``."""
    classes = {}
    for size in SUBSETS:
        for task in [0] + list(TASK_FILES):
            label = "AllTasks" if task == 0 else f"Task{task}"
            name = f"babi_qa_concat_{'all_tasks' if task == 0 else f'task{task}'}_{size}"
            doc = (f"bAbI ({SUBSETS[size]}) " + ("all 20 tasks, jointly" if task == 0 else TASK_FILES[task])
                   + ": question <EOQ> story -> answer class (problems/babi.py).")
            cls = type(f"BabiQaConcat{label}_{size}", (BabiQaConcat,),
                       {"babi_task": task, "babi_size": size, "__module__": __name__, "__doc__": doc})
            classes[cls.__name__] = registry.register_problem(name)(cls)
    return classes


globals().update(_register_problems())

