"""Runs many binary invocations cheaply: TensorFlow and the catalogue are imported once,
then each case runs in a forked child (its own flags, its own exit status).

    python tests/scripts/bad_input_runner.py < cases.json > results.json

Input: a JSON list of ``{"module": "t2x_trainer", "args": [...], "stdin": ""}``. Output: a
JSON list of ``{"code": int, "stdout": str, "stderr": str, "seconds": float}``, one per case.
Used by test_bad_inputs.py (it is not a test itself).
"""

import json
import os
import runpy
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["T2X_OFFLINE"] = "1"

import tensorflow  # noqa: E402,F401  (imported once, before the forks)

from t2x import catalogue  # noqa: E402

catalogue.load()


def run_case(case, scratch):
    out_path, err_path = os.path.join(scratch, "out"), os.path.join(scratch, "err")
    in_path = os.path.join(scratch, "in")
    with open(in_path, "w") as f:
        f.write(case.get("stdin", ""))
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: one binary, as from the shell
        code = 70
        try:
            with open(in_path) as stdin, open(out_path, "w") as out, open(err_path, "w") as err:
                os.dup2(stdin.fileno(), 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.argv = [case["module"], *case["args"]]
                runpy.run_module(f"t2x.scripts.{case['module']}", run_name="__main__")
                code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # a traceback: printed, and a distinct status
            import traceback

            traceback.print_exc()
            code = 99
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(out_path) as out, open(err_path) as err:
        return {"code": os.waitstatus_to_exitcode(status), "stdout": out.read(), "stderr": err.read(),
                "seconds": time.monotonic() - start}


def main():
    cases = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as scratch:
        results = [run_case(case, scratch) for case in cases]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
