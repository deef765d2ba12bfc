"""The house's rooms, seen from a user's run: t2x-decoder and t2x-exporter read a trained
run (its checkpoint, gin config and vocabulary) without importing the training code."""

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT

RUN_BINARY = """
import json, runpy, sys
sys.argv = {argv!r}
try:
    runpy.run_module({module!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "imported": sorted(m for m in sys.modules if m.startswith(("t2x.training.",
                                                                                        "t2x.tuning.")))}}))
"""


def _run(module, args, env):
    code = RUN_BINARY.format(argv=[module, *args], module=f"t2x.scripts.{module}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_decoding_and_exporting_a_run_never_import_the_trainer(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", T2X_OFFLINE="1")
    run = tmp_path / "run"
    trained = subprocess.run(
        [sys.executable, "-m", "t2x.scripts.t2x_trainer", "--problem=tiny_algo", "--model=transformer",
         "--hparams_set=transformer_test", f"--data_dir={tmp_path / 'data'}", f"--output_dir={run}",
         "--train_steps=1", "--schedule=train", "--gin_param=Trainer.log_every=1"],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Trainer.log_every = 1" in (run / "config.gin").read_text()  # a binding only the trainer knows
    (tmp_path / "in.txt").write_text("0 1 1\n1 0\n")
    decoded = _run("t2x_decoder", [f"--output_dir={run}", f"--decode_from_file={tmp_path / 'in.txt'}",
                                   f"--decode_to_file={tmp_path / 'out.txt'}"], env)
    assert decoded["code"] in (0, None) and len((tmp_path / "out.txt").read_text().splitlines()) == 2
    exported = _run("t2x_exporter", [f"--output_dir={run}", f"--export_dir={tmp_path / 'export'}"], env)
    assert exported["code"] in (0, None) and (tmp_path / "export" / "saved_model" / "saved_model.pb").exists()
    for result in (decoded, exported):
        assert result["imported"] == [], result["imported"]
