"""The bad-input catalogue's cases for export (see test_bad_inputs.py): t2x-exporter and
t2x-avg-checkpoints. {TXT} is a tiny language-model run with a subword vocabulary in
{R}/txt_data (2 steps, checkpoints 1 and 2); {R}/old_export an earlier export."""

import json
import subprocess
import sys

from conftest import REPO_ROOT

# (case id, binary module, args, text the last stderr line must contain); marks as there.
CASES = [
    # t2x-exporter
    ("export_no_output_dir", "t2x_exporter", "--formats=saved_model",
     "--output_dir is required: the directory t2x-trainer wrote"),
    ("export_not_a_run", "t2x_exporter", "--output_dir={R}/empty --export_dir={R}/x1",
     "--output_dir must be a t2x-trainer output directory"),
    ("export_unknown_format", "t2x_exporter", "--output_dir={RUN} --formats=onnx --export_dir={R}/x2",
     "--formats: unknown format 'onnx'; the formats are saved_model,tflite,tflite_dynamic,tflite_int8,tfjs"),
    ("export_misspelt_format", "t2x_exporter", "--output_dir={RUN} --formats=saved_model,tflite_int9",
     "did you mean tflite_int8"),
    ("export_representative_0", "t2x_exporter", "--output_dir={RUN} --formats=tflite_int8 "
     "--representative_examples=0 --export_dir={R}/x3", "--representative_examples=0 must be >= 1"),
    ("export_missing_checkpoint", "t2x_exporter", "--output_dir={RUN} --checkpoint_path={RUN}/ckpt-77 "
     "--export_dir={R}/x4", "no checkpoint at {RUN}/ckpt-77"),
    ("export_beam_size_0", "t2x_exporter", "--output_dir={TXT} --decode_hparams=beam_size=0 --export_dir={R}/x5",
     "beam_size=0 must be >= 1"),
    ("export_misspelt_decode_hparam", "t2x_exporter", "--output_dir={TXT} --decode_hparams=beam_sise=2 "
     "--export_dir={R}/x6", "nearest valid keys: beam_size"),
    ("export_decode_hparams_of_a_classifier", "t2x_exporter", "--output_dir={RUN} --decode_hparams=beam_size=2 "
     "--export_dir={R}/x7", "is for sequence models (text-to-text, language models); image_tiny_digits exports as "
     "kind image_classifier (one pass, no decoding): drop --decode_hparams"),
    ("export_tflite_of_a_language_model", "t2x_exporter", "--output_dir={TXT} --formats=tflite --export_dir={R}/x8",
     "TF Lite and TF.js exports are for image classifiers; languagemodel_from_files is a language_model"),
    ("export_data_dir_without_vocabulary", "t2x_exporter", "--output_dir={TXT} --data_dir={R}/empty "
     "--export_dir={R}/x9", "vocabulary {R}/empty/vocab.languagemodel_from_files.50.subword is missing"),
    ("export_data_dir_missing", "t2x_exporter", "--output_dir={TXT} --data_dir={R}/nowhere --export_dir={R}/x10",
     "data_dir '{R}/nowhere' not found"),
    ("export_dir_is_a_file", "t2x_exporter", "--output_dir={RUN} --export_dir={R}/a_file",
     "--export_dir={R}/a_file is a file, not a directory"),
    ("export_dir_under_a_file", "t2x_exporter", "--output_dir={RUN} --export_dir={R}/a_file/sub",
     "--export_dir={R}/a_file/sub goes through {R}/a_file, a file, not a directory"),
    ("export_overwrite_maybe", "t2x_exporter", "--output_dir={RUN} --overwrite=maybe",
     "--overwrite"),
    ("export_over_an_earlier_export", "t2x_exporter", "--output_dir={RUN} --export_dir={R}/old_export",
     "{R}/old_export holds an earlier export: pass --overwrite to replace it, or give another --export_dir"),
    ("export_overwrite_the_run", "t2x_exporter", "--output_dir={RUN} --export_dir={RUN} --overwrite",
     "--export_dir={RUN} is the run directory: an export never replaces it"),
    ("export_overwrite_the_runs_events", "t2x_exporter", "--output_dir={RUN} --export_dir={RUN}/train --overwrite",
     "--export_dir={RUN}/train is inside the run {RUN} but not under its export/"),
    ("export_overwrite_a_folder_holding_the_run", "t2x_exporter", "--output_dir={RUN} --export_dir={R} --overwrite",
     "--export_dir={R} holds the run {RUN}: an export never replaces it"),
    ("export_overwrite_other_files", "t2x_exporter", "--output_dir={RUN} --export_dir={R}/usr --overwrite",
     "file(s) that are not a t2x export (no export.json): --overwrite replaces only an earlier export; give a "
     "new or empty --export_dir"),
    ("export_no_usr_dir", "t2x_exporter", "--output_dir={RUN} --t2x_usr_dir={R}/nowhere", "no such directory"),
    ("export_stray_argument", "t2x_exporter", "--output_dir={RUN} stray", "unexpected arguments ['stray']"),
    # t2x-avg-checkpoints
    ("avg_data_dir_without_vocabulary", "t2x_avg_checkpoints", "--output_dir={TXT} --num_last_checkpoints=2 "
     "--data_dir={R}/empty --avg_dir={R}/v1", "vocabulary {R}/empty/vocab.languagemodel_from_files.50.subword "
     "is missing"),
    ("avg_no_usr_dir", "t2x_avg_checkpoints", "--output_dir={RUN} --t2x_usr_dir={R}/nowhere", "no such directory"),
    ("avg_dir_is_a_file", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=2 --avg_dir={R}/a_file",
     "--avg_dir={R}/a_file is a file, not a directory: give a new directory (default {RUN}/avg)"),
    ("avg_dir_holds_another_run", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=2 "
     "--avg_dir={TXT}", "--avg_dir={TXT} holds"),
    ("avg_dir_holds_the_run", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=2 --avg_dir={R}",
     "--avg_dir={R} holds the run {RUN}"),
    ("avg_num_last_not_a_number", "t2x_avg_checkpoints", "--output_dir={RUN} --num_last_checkpoints=two",
     "--num_last_checkpoints"),
]

# Names under the scratch root that the refused cases must not create.
WROTE_NOTHING = ("x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "v1",
                 "run/export", "run/avg")


def setup(root, marks, env):
    """A tiny subword language-model run ({TXT}) and a stand-in earlier export."""
    (root / "lm.txt").write_text("\n".join(f"the cat sat on mat {i % 7} and ran" for i in range(40)) + "\n")
    trained = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--generate_data", "--schedule=train",
         "--problem=languagemodel_from_files", "--model=lstm_lm", "--hparams_set=lstm_tiny",
         f"--data_dir={root / 'txt_data'}", f"--output_dir={root / 'txt_run'}", "--train_steps=2",
         "--save_checkpoints_steps=1", f"--gin_param=LanguagemodelFromFiles.train='{root / 'lm.txt'}'",
         f"--gin_param=LanguagemodelFromFiles.dev='{root / 'lm.txt'}'",
         "--gin_param=LanguagemodelFromFiles.approx_vocab_size=50",
         "--gin_param=LanguagemodelFromFiles.train_shards=1"],
        capture_output=True, text=True, env=env, timeout=240, cwd=REPO_ROOT)
    assert trained.returncode == 0, trained.stderr[-3000:]
    (root / "old_export").mkdir()
    (root / "old_export" / "export.json").write_text(json.dumps({"step": 1, "kind": "image_classifier"}))
    marks["{TXT}"] = str(root / "txt_run")
