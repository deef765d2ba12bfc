"""The bad-input catalogue: every binary, given bad input, ends with one line that names the
problem and the fix, a non-zero exit status, no traceback, and nothing written where it
should not be. One table, run through bad_input_runner.py (one TensorFlow import, one fork
per case)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, make_tiny_mnist, usr_dir_code

import bad_inputs_decoding
import bad_inputs_export
import bad_inputs_training

# The catalogue's other tables, one module per area: each has CASES (as below), setup(root,
# marks) making its scratch files (and adding {MARK}s), and WROTE_NOTHING (names under the
# scratch root that a refused case must not create).
AREAS = (bad_inputs_decoding, bad_inputs_export, bad_inputs_training)

USR_PROBLEMS = '''
@registry.register_problem
class ImageTinyDigitsBadMetric(ImageTinyDigits):
    def eval_metrics(self):
        return ["acuracy"]


@registry.register_ranged_hparams
def my_misspelt_range(rhp):
    rhp.set_float("learning_rat", 0.01, 1.0)
'''

# (case id, binary, args, text the last stderr line must contain). {R} is the scratch root;
# {USR} the user dir flag; {RUN} a trained run; {IMG} the flags of a tiny image run.
IMG = "{USR} --problem=image_tiny_digits --model=my_dense_net --data_dir={R}/data --tmp_dir={R}/raw"
CASES = [
    # t2x-trainer
    ("trainer_no_problem", "t2x_trainer", "--model=my_dense_net", "--problem is required"),
    ("trainer_no_model", "t2x_trainer", "--problem=image_mnist", "--model is required"),
    ("trainer_misspelt_problem", "t2x_trainer", "--problem=image_mnst --model=shake_shake",
     "problem 'image_mnst' is not in the problems registry; did you mean image_mnist"),
    ("trainer_misspelt_model", "t2x_trainer", "--problem=image_mnist --model=shake_shak",
     "did you mean shake_shake"),
    ("trainer_misspelt_set", "t2x_trainer", "--problem=image_mnist --model=shake_shake "
     "--hparams_set=shake_shake_quik", "did you mean shake_shake_quick"),
    ("trainer_unknown_hparam", "t2x_trainer", IMG + " --hparams=learnin_rate=1", "nearest valid keys: learning_rate"),
    ("trainer_hparam_type", "t2x_trainer", IMG + " --hparams=batch_size=abc", "hparam 'batch_size' expects int"),
    ("trainer_hparam_malformed", "t2x_trainer", IMG + " --hparams=batch_size", "expected name=value"),
    ("trainer_batch_size_0", "t2x_trainer", IMG + " --hparams=batch_size=0 --output_dir={R}/o1",
     "batch_size must be >= 1"),
    ("trainer_unimplemented_hparam", "t2x_trainer", IMG + " --hparams=weight_noise=0.1",
     "hparam weight_noise=0.1 is not supported"),
    ("trainer_negative_steps", "t2x_trainer", IMG + " --train_steps=-1 --output_dir={R}/o2", "must be >= 0"),
    ("trainer_eval_every_0", "t2x_trainer", IMG + " --eval_every=0 --output_dir={R}/o3", "eval_every must be >= 1"),
    ("trainer_output_dir_is_a_file", "t2x_trainer", IMG + " --output_dir={R}/a_file", "is a file, not a directory"),
    ("trainer_unknown_flag", "t2x_trainer", "--problem=image_mnist --bogus=1", "Unknown command line flag 'bogus'"),
    ("trainer_stray_argument", "t2x_trainer", "--problem=image_mnist stray", "unexpected arguments ['stray']"),
    ("trainer_bad_strategy", "t2x_trainer", IMG + " --strategy=bogus", "--strategy"),
    ("trainer_no_usr_dir", "t2x_trainer", "--t2x_usr_dir={R}/nowhere --problem=x --model=y", "no such directory"),
    ("trainer_usr_dir_syntax_error", "t2x_trainer", "--t2x_usr_dir={R}/usr_syntax --problem=x --model=y",
     "usr_syntax/__init__.py:3: SyntaxError"),
    ("trainer_usr_dir_raises", "t2x_trainer", "--t2x_usr_dir={R}/usr_raises --problem=x --model=y",
     "usr_raises/__init__.py:2: RuntimeError: no GPU here"),
    ("trainer_gin_syntax", "t2x_trainer", IMG + " --gin_file={R}/bad.gin", "bad.gin:2: gin syntax error"),
    ("trainer_gin_unclosed", "t2x_trainer", IMG + " --gin_file={R}/unclosed.gin",
     "unclosed.gin:3: gin syntax error: EOF in multi-line statement"),
    ("trainer_gin_unknown", "t2x_trainer", IMG + " --gin_param=Traner.log_every=1", "--gin_file/--gin_param: "),
    ("trainer_gin_missing_file", "t2x_trainer", IMG + " --gin_file={R}/none.gin", "--gin_file/--gin_param: "),
    ("trainer_gin_wrong_type", "t2x_trainer", IMG + " --gin_param=Trainer.log_every='ten' --output_dir={R}/o4",
     "Trainer.log_every must be an integer, got str 'ten'"),
    ("trainer_evaluate_no_checkpoint", "t2x_trainer", IMG + " --schedule=evaluate --output_dir={R}/o5",
     "--schedule=evaluate found no checkpoint"),
    ("trainer_bad_schedule_factor", "t2x_trainer",
     IMG + " --hparams=learning_rate_schedule=constant*linear_warmpu --output_dir={R}/o6",
     "unknown learning-rate factor 'linear_warmpu'"),
    ("trainer_bad_optimizer", "t2x_trainer", IMG + " --hparams=optimizer=adamm --output_dir={R}/o7",
     "unknown optimizer 'adamm'"),
    ("trainer_bad_decode_hparams", "t2x_trainer", IMG + " --eval_decode_split=dev --decode_hparams=beam_sise=2",
     "nearest valid keys: beam_size"),
    ("trainer_unknown_metric", "t2x_trainer", "{USR} --problem=image_tiny_digits_bad_metric --model=my_dense_net "
     "--data_dir={R}/data2 --tmp_dir={R}/raw", "unknown metric 'acuracy'"),
    ("trainer_offline_missing_raw", "t2x_trainer", IMG.replace("{R}/raw", "{R}/empty") + " --data_dir={R}/d9",
     "--tmp_dir"),
    ("trainer_config_change", "t2x_trainer", IMG + " --output_dir={RUN} --hparams=hidden_size=32",
     "holds a run with another configuration (hidden_size: 16 -> 32)"),
    ("trainer_locked_run", "t2x_trainer", IMG + " --output_dir={R}/locked", "is in use by process 1"),
    # t2x-datagen
    ("datagen_no_problem", "t2x_datagen", "", "--problem is required"),
    ("datagen_misspelt_problem", "t2x_datagen", "--problem=algorithmic_reverse_binary4",
     "did you mean algorithmic_reverse_binary40"),
    ("datagen_unknown_flag", "t2x_datagen", "--problem=image_mnist --num_procs=2",
     "Unknown command line flag 'num_procs'"),
    ("datagen_num_processes_0", "t2x_datagen", "--problem=tiny_algo --num_processes=0 --data_dir={R}/g1",
     "--num_processes must be >= 1"),
    ("datagen_offline_missing_raw", "t2x_datagen", "--problem=image_mnist --data_dir={R}/g2 --tmp_dir={R}/empty",
     "--tmp_dir"),
    ("datagen_from_files_unset", "t2x_datagen", "--problem=translate_from_files --data_dir={R}/g3",
     "TranslateFromFiles.train_inputs is not set; pass --gin_param="),
    ("datagen_not_utf8", "t2x_datagen", "--problem=languagemodel_from_files --data_dir={R}/g4 "
     "--gin_param=LanguagemodelFromFiles.train='{R}/latin1.txt' --gin_param=LanguagemodelFromFiles.dev='{R}/ok.txt' "
     "--gin_param=LanguagemodelFromFiles.vocab_type='character'", "latin1.txt:2: not UTF-8"),
    ("datagen_not_line_aligned", "t2x_datagen", "--problem=translate_from_files --data_dir={R}/g5 "
     "--gin_param=TranslateFromFiles.train_inputs='{R}/three.txt' "
     "--gin_param=TranslateFromFiles.train_targets='{R}/ok.txt' --gin_param=TranslateFromFiles.dev_inputs='{R}/ok.txt' "
     "--gin_param=TranslateFromFiles.dev_targets='{R}/ok.txt' --gin_param=TranslateFromFiles.vocab_type='character'",
     "not line-aligned"),
    ("datagen_bad_class_line", "t2x_datagen", "--problem=text_classification_from_files --data_dir={R}/g6 "
     "--gin_param=TextClassificationFromFiles.train='{R}/ok.txt' "
     "--gin_param=TextClassificationFromFiles.dev='{R}/ok.txt'", "expected 'label<TAB>text'"),
    ("datagen_empty_train_file", "t2x_datagen", "--problem=languagemodel_from_files --data_dir={R}/g7 "
     "--gin_param=LanguagemodelFromFiles.train='{R}/empty.txt' --gin_param=LanguagemodelFromFiles.dev='{R}/ok.txt' "
     "--gin_param=LanguagemodelFromFiles.vocab_type='character'", "generate_samples yielded no samples"),
    # t2x-decoder
    ("decoder_no_output_dir", "t2x_decoder", "", "--output_dir is required"),
    ("decoder_not_a_run", "t2x_decoder", "--output_dir={R}/empty", "--output_dir must be a t2x-trainer output"),
    ("decoder_bad_decode_hparams", "t2x_decoder", "--output_dir={RUN} --decode_hparams=beam_sise=4",
     "nearest valid keys: beam_size"),
    ("decoder_unreadable_file", "t2x_decoder", "--output_dir={RUN} --decode_from_file={R}/none.txt",
     "--decode_from_file={R}/none.txt cannot be read"),
    ("decoder_missing_checkpoint", "t2x_decoder", "--output_dir={RUN} --checkpoint_path={RUN}/ckpt-77",
     "no checkpoint at {RUN}/ckpt-77"),
    ("decoder_image_run", "t2x_decoder", "--output_dir={RUN} --decode_from_file={R}/ok.txt",
     "image inputs and class_label targets: the decoder translates symbol inputs to symbol targets"),
    # t2x-bleu
    ("bleu_no_translation", "t2x_bleu", "--reference={R}/ok.txt", "--translation is required"),
    ("bleu_unreadable", "t2x_bleu", "--translation={R}/none.txt --reference={R}/ok.txt", "cannot be read"),
    ("bleu_line_counts", "t2x_bleu", "--translation={R}/three.txt --reference={R}/ok.txt",
     "3 hypotheses but 2 references"),
    ("bleu_empty", "t2x_bleu", "--translation={R}/empty.txt --reference={R}/empty.txt", "no sentences to score"),
    ("bleu_bad_tokenize", "t2x_bleu", "--translation={R}/ok.txt --reference={R}/ok.txt --tokenize=moses",
     "--tokenize"),
    # t2x-avg-checkpoints
    ("avg_no_output_dir", "t2x_avg_checkpoints", "", "--output_dir is required"),
    ("avg_not_a_run", "t2x_avg_checkpoints", "--output_dir={R}/empty", "holds 0 checkpoint(s): train first"),
    ("avg_zero", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=0", "num_last must be >= 1"),
    ("avg_too_few", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=9",
     "--num_last_checkpoints=9 but {RUN} holds 2 checkpoint(s)"),
    ("avg_into_the_run", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=2 --avg_dir={RUN}",
     "needs its own directory"),
    # scale and model selection (t2x-trainer)
    ("trainer_bad_activation_dtype", "t2x_trainer", IMG + " --hparams=activation_dtype=float8 --output_dir={R}/o8",
     "activation_dtype='float8' is not supported; use one of float32, bfloat16, float16"),
    ("trainer_packed_image_problem", "t2x_trainer", IMG + " --hparams=packed=true --output_dir={R}/o9",
     "does not read packed batches"),
    ("trainer_patience_without_metric", "t2x_trainer", IMG + " --early_stopping_patience=2 --output_dir={R}/o10",
     "name it with --early_stopping_metric=eval/<metric>"),
    ("trainer_misspelt_selection_metric", "t2x_trainer", IMG + " --early_stopping_metric=eval/acuracy "
     "--output_dir={R}/o11", "did you mean accuracy"),
    # t2x-tuner
    ("tuner_no_range", "t2x_tuner", "--problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small "
     "--output_dir={R}/t1", "--hparams_range is required"),
    ("tuner_misspelt_range", "t2x_tuner", "--problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small "
     "--hparams_range=basic_fc_rang --output_dir={R}/t2", "did you mean basic_fc_range"),
    ("tuner_range_off_the_set", "t2x_tuner", IMG + " --hparams_set=my_dense_tiny --hparams_range=my_misspelt_range "
     "--output_dir={R}/t3", "ranged hparam 'learning_rat' is not an hparam of the set (did you mean learning_rate"),
    ("tuner_zero_trials", "t2x_tuner", "--problem=image_mnist --model=basic_fc_relu --hparams_set=basic_fc_small "
     "--hparams_range=basic_fc_range --trials=0 --output_dir={R}/t4", "--trials must be an integer >= 1"),
]
CASES += [case for area in AREAS for case in area.CASES]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    table, _ = make_tiny_mnist(str(root / "raw"))
    for name, code in (("usr", usr_dir_code(table, 1, USR_PROBLEMS)),
                       ("usr_syntax", "x = 1\n\ndef broken(:\n"),
                       ("usr_raises", "import os\nraise RuntimeError('no GPU here')\n")):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(code)
    (root / "empty").mkdir()
    (root / "a_file").write_text("not a directory\n")
    (root / "bad.gin").write_text("Trainer.log_every = 1\nTrainer.eval_every 5\n")
    (root / "unclosed.gin").write_text("Trainer.log_every = 1\nTrainer.eval_every = (\n")
    (root / "ok.txt").write_text("one line\nanother line\n")
    (root / "three.txt").write_text("a\nb\nc\n")
    (root / "empty.txt").write_text("")
    (root / "latin1.txt").write_bytes("fine\ncaf\xe9\n".encode("latin-1"))
    (root / "locked").mkdir()
    (root / "locked" / "lock").write_text(json.dumps({"pid": 1, "host": os.uname().nodename, "started": "then"}))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    run = root / "run"
    trained = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", f"--t2x_usr_dir={root / 'usr'}",
         "--problem=image_tiny_digits", "--model=my_dense_net", f"--data_dir={root / 'data'}",
         f"--tmp_dir={root / 'raw'}", f"--output_dir={run}", "--train_steps=2", "--save_checkpoints_steps=1",
         "--schedule=train"], capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert trained.returncode == 0, trained.stderr[-3000:]
    marks = {"{USR}": f"--t2x_usr_dir={root / 'usr'}", "{RUN}": str(run), "{R}": str(root)}
    for area in AREAS:
        area.setup(root, marks, env)
    marks["{R}"] = marks.pop("{R}")  # last: the areas' marks may contain {R}

    def fill(text):
        for mark, value in marks.items():
            text = text.replace(mark, value)
        return text

    cases = [{"module": module, "args": [fill(a) for a in args.split()]} for _, module, args, _ in CASES]
    done = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tests", "scripts", "bad_input_runner.py")],
                          input=json.dumps(cases), capture_output=True, text=True, env=env, timeout=600,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    before = sorted(os.listdir(run))
    return root, {case[0]: (result, fill(case[3])) for case, result in zip(CASES, json.loads(done.stdout))}, before


def test_the_catalogue_has_forty_cases_or_more_over_every_binary():
    by_binary = {}
    for _, module, _, _ in CASES:
        by_binary[module] = by_binary.get(module, 0) + 1
    assert len(CASES) >= 40 and set(by_binary) == {"t2x_trainer", "t2x_datagen", "t2x_decoder", "t2x_bleu",
                                                   "t2x_avg_checkpoints", "t2x_tuner", "t2x_exporter"}


# absl's and TensorFlow's own flags are not the binaries' to check.
def _binary_flags(module):
    """The flags a binary defines (its own and t2x's shared ones), by parsing its source:
    ``flags.DEFINE_*("name"`` there and in the ``scripts.common`` helpers it calls."""
    import re

    scripts = os.path.join(REPO_ROOT, "scripts")
    source = open(os.path.join(scripts, f"{module}.py"), encoding="utf-8").read()
    common = open(os.path.join(scripts, "common.py"), encoding="utf-8").read()
    names = re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', source)
    for helper in re.findall(r'common\.(define_\w+)\(', source):
        body = re.search(rf"def {helper}\(.*?(?=\ndef |\Z)", common, re.S).group(0)
        names += re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', body)
        for inner in re.findall(r'\b(define_\w+)\(\)', body):
            inner_body = re.search(rf"def {inner}\(.*?(?=\ndef |\Z)", common, re.S).group(0)
            names += re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', inner_body)
    return sorted(set(names))


# Flags that take no value a user can get wrong (a boolean switch that only prints).
NO_BAD_VALUE = {"registry_help"}


def test_every_flag_of_every_binary_has_a_bad_value_case():
    modules = sorted({module for _, module, _, _ in CASES})
    uncovered = {}
    for module in modules:
        used = " ".join(args for _, m, args, _ in CASES if m == module)
        missing = [name for name in _binary_flags(module)
                   if name not in NO_BAD_VALUE and f"--{name}" not in used]
        if missing:
            uncovered[module] = missing
    assert not uncovered, uncovered


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_fix(case, results):
    _, by_case, _ = results
    result, expected = by_case[case]
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 1, (result["code"], result["stderr"][-2000:])
    assert "Traceback" not in result["stderr"], result["stderr"][-2000:]
    # absl's own flag errors add "Pass --helpshort or --helpfull to see help on flags." after theirs
    last = lines[-2] if lines and lines[-1].startswith("Pass --helpshort") else (lines or [""])[-1]
    assert expected in last, lines[-3:]
    if case.startswith("decoder_bad") or case == "decoder_unreadable_file":
        assert "Restored" not in result["stderr"]  # refused before the model loads


def test_refused_runs_wrote_nothing(results):
    root, _, before = results
    for name in ("o1", "o2", "o3", "o4", "o6", "o7", "d9", "o8", "o9", "o10", "o11", "t1", "t2", "t3", "t4",
                 *[name for area in AREAS for name in area.WROTE_NOTHING]):
        assert not (root / name).exists(), name
    assert sorted(os.listdir(root / "run")) == before  # the refused config change rewrote nothing
    assert (root / "run" / "hparams.json").read_text().count('"hidden_size": 16') == 1
    assert sorted(os.listdir(root / "locked")) == ["lock"]
    assert (root / "a_file").read_text() == "not a directory\n"
