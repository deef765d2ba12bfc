"""Flags and error handling shared by the t2x binaries.

Every binary: unknown flags are errors (absl's default, kept); a bad input (any
``t2x.errors.T2XError``: an unknown registry name, a missing file, a failed download, a bad
hparam, a refused config) ends with one line on stderr that names the fix, and exit status
1. Any other exception is a bug and keeps its traceback.
"""

import os
import sys
import tokenize

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TF's INFO lines bury ours; warnings stay

from absl import flags, logging

from t2x import catalogue, registry
from t2x.data.specs import DEFAULT_RANDOM_SEED
from t2x.errors import Preempted, T2XError

FLAGS = flags.FLAGS

def define_data_flags():
    flags.DEFINE_string("problem", None, "Registered problem name (e.g. image_mnist); "
                        "'_rev' and '_copy' suffixes as in T2T.")
    flags.DEFINE_string("data_dir", None, "Where the TFRecord shards are (default ~/t2x_data).")
    flags.DEFINE_string("tmp_dir", None, "Where raw downloads are kept and looked for "
                        "(default <data_dir>/tmp).")
    flags.DEFINE_integer("random_seed", DEFAULT_RANDOM_SEED, "Seed of data generation (and of training).")
    flags.DEFINE_string("tfds_data_dir", None, "For --problem=tfds:<name>: where TFDS keeps prepared "
                        "datasets (default TFDS's own, ~/tensorflow_datasets).")
    define_registry_flags()


def define_registry_flags():
    flags.DEFINE_string("t2x_usr_dir", None, "A directory of your own registered problems, "
                        "models and hparams sets, imported before anything is looked up.")
    flags.DEFINE_boolean("registry_help", False, "Print every registered name and exit.")


def define_gin_flags():
    flags.DEFINE_multi_string("gin_file", [], "gin files binding configurables (Trainer options, "
                              "optimizer, schedule, the paths of the *_from_files problems).")
    flags.DEFINE_multi_string("gin_param", [], "gin bindings, e.g. 'Trainer.log_every=10'.")


def parse_gin(binary: str) -> None:
    """Parses --gin_file/--gin_param (after the registries are loaded); one-line errors."""
    import gin

    try:
        gin.parse_config_files_and_bindings(FLAGS.gin_file, FLAGS.gin_param, finalize_config=False)
    except SyntaxError as e:  # gin's parser: file (or binding) and line
        where = f"{e.filename}:{e.lineno}" if e.filename and e.filename != "<string>" else "--gin_param"
        fail(binary, f"{where}: gin syntax error: {e.msg} in {(e.text or '').strip()!r}")
    except tokenize.TokenError as e:  # an unclosed bracket: find the file it is in
        where = next((f for f in FLAGS.gin_file if _tokenize_fails(f)), "--gin_param")
        fail(binary, f"{where}:{e.args[1][0]}: gin syntax error: {e.args[0]} (an unclosed bracket?)")
    except (ValueError, OSError, KeyError) as e:  # unknown configurable or parameter, missing file
        fail(binary, f"--gin_file/--gin_param: {str(e).strip().splitlines()[0]}")
    if "tfds_data_dir" in FLAGS and FLAGS.tfds_data_dir and os.path.isfile(os.path.expanduser(FLAGS.tfds_data_dir)):
        fail(binary, f"--tfds_data_dir={FLAGS.tfds_data_dir} is a file, not a directory: point it at TFDS's data folder")
    if "tfds_data_dir" in FLAGS and FLAGS.tfds_data_dir:  # recorded in the run's config.gin
        gin.bind_parameter("TfdsProblem.tfds_data_dir", os.path.abspath(os.path.expanduser(FLAGS.tfds_data_dir)))


def announcer(binary: str):
    """A function printing ``<binary>: <message>`` on stderr (what the libraries announce)."""
    return lambda message: print(f"{binary}: {message}", file=sys.stderr, flush=True)


def _tokenize_fails(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            list(tokenize.generate_tokens(f.readline))
    except (tokenize.TokenError, OSError, SyntaxError):
        return True
    return False


def load_registries() -> None:
    """Built-in catalogue, then the user's directory (so user names can shadow nothing)."""
    catalogue.load()
    if FLAGS.t2x_usr_dir:
        catalogue.import_usr_dir(FLAGS.t2x_usr_dir)


def start(binary: str, argv) -> bool:
    """The binaries' common first steps: no stray arguments, registries loaded, and
    ``--registry_help`` answered. Returns True when the binary has nothing more to do."""
    if len(argv) > 1:
        fail(binary, f"unexpected arguments {argv[1:]}; all options are --flags")
    load_registries()
    if FLAGS.registry_help:
        print(registry.help_string())
        return True
    return False


def fail(binary: str, message: str, code: int = 1):
    print(f"{binary}: error: {message}", file=sys.stderr)
    sys.exit(code)


def guarded(binary: str, main):
    """Wraps an absl main so that a T2XError ends as one line and exit status 1."""

    def wrapped(argv):
        try:
            return main(argv)
        except Preempted as e:  # a signal stopped training after a checkpoint: not an error
            print(f"{binary}: {e}", file=sys.stderr, flush=True)
            sys.exit(e.exit_code)
        except T2XError as e:
            logging.debug("user error", exc_info=True)
            # gin appends "  In call to configurable ..." lines to errors raised in its
            # configurables; the first line is the message.
            fail(binary, (str(e).strip().splitlines() or [type(e).__name__])[0])
        except KeyboardInterrupt:
            fail(binary, "interrupted; complete shards and checkpoints are kept, re-run to go on", 130)

    return wrapped
