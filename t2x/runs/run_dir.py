"""The owner of a run directory: every file of a run's configuration is written and read here.

    run = RunDir("~/t2x_train/image_mnist/shake_shake-shake_shake_quick")
    run.write_config(hparams=hp, info=RunInfo(problem=..., model=..., hparams_set=...,
                     data_dir=...), gin_config=gin.config_str(), flags_text=...)
    loaded = run.load()          # problem (built under the run's gin config), hparams, names

A run directory holds::

    hparams.json   the resolved hparams (HParams.to_json)
    run.json       problem, model and hparams set names; data_dir and t2x_usr_dir (where the
                   vocabulary and the user's registrations are; not part of the config check)
    config.gin     the gin config the run was trained under (gin.config_str())
    flags.txt      the binary's flags
    lock           while a trainer runs: its pid, host and start time (one trainer per run;
                   readers -- continuous_eval, t2x-decoder -- do not take it)
    checkpoint, ckpt-<step>.*   the CheckpointManager's files (written by the trainer)
    best.json      model selection (``--early_stopping_metric``): the metric, its goal, the
                   best value and step so far, evaluations since then, and whether the run
                   stopped early; read back on resume
    best/          with ``--keep_best_checkpoint``: a run directory of its own holding the
                   best step's checkpoint and this run's configuration files (so
                   ``t2x-decoder`` and ``t2x-exporter`` read it like any run)

Each file is written atomically (``t2x.fileio``). Every reader of a run -- the trainer on
resume, ``t2x-decoder``, ``t2x-avg-checkpoints``, the exporter -- goes through ``RunDir``;
``load()`` re-applies the run's ``config.gin`` before it builds the problem, so a run
configured by ``--gin_param`` (a ``*_from_files`` problem's paths and vocabulary type)
decodes without repeating them.
"""

import dataclasses
import json
import os
import shutil
import socket
import time
from typing import Any, Callable, Dict, List, Optional

from absl import logging

from t2x import registry
from t2x.errors import ConfigError, T2XError
from t2x.fileio import atomic_dir, atomic_path, pid_alive, write_text_atomic
from t2x.hparam import HParams

HPARAMS_FILE = "hparams.json"
RUN_FILE = "run.json"
GIN_FILE = "config.gin"
FLAGS_FILE = "flags.txt"
LOCK_FILE = "lock"
CONFIG_FILES = (HPARAMS_FILE, RUN_FILE, GIN_FILE, FLAGS_FILE)
BEST_FILE = "best.json"
BEST_DIR = "best"


class RunDirError(T2XError, ValueError):
    """Not a run directory, or a run whose configuration cannot be used as asked."""


class RunLockedError(RunDirError):
    """Another live trainer holds the run directory's lock; the message names it."""


@dataclasses.dataclass
class RunInfo:
    """What ``run.json`` holds. ``problem``, ``model`` and ``hparams_set`` identify the run
    (a change is refused on resume); ``data_dir`` and ``t2x_usr_dir`` only say where
    things are."""
    problem: str
    model: str
    hparams_set: str
    data_dir: Optional[str] = None
    t2x_usr_dir: Optional[str] = None

    IDENTITY = ("problem", "model", "hparams_set")

    def to_dict(self) -> Dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["t2x_usr_dir"] is None:
            del out["t2x_usr_dir"]
        return out


@dataclasses.dataclass
class LoadedRun:
    """A run read back: the problem instance (built under the run's gin config), its
    hparams and names."""
    problem: Any
    model_name: str
    hparams: HParams
    hparams_set: str
    data_dir: str
    info: RunInfo


class RunDir:
    """One run directory; see the module docstring."""

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self._locked = False  # this object took the lock (acquire_lock)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    # -- reading ------------------------------------------------------------------------
    def _require(self, name: str) -> str:
        path = self.file(name)
        if not os.path.exists(path):
            raise RunDirError(f"{path} not found: --output_dir must be a t2x-trainer output directory")
        return path

    def _read_json(self, name: str) -> Any:
        """A configuration file's JSON; RunDirError naming the file when it is damaged."""
        path = self._require(name)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RunDirError(f"{path} is damaged, not JSON ({first_line(e)}): restore it from a copy "
                              "(t2x-trainer writes it when a run starts), or use another --output_dir") from None

    def read_hparams(self) -> HParams:
        raw = self._read_json(HPARAMS_FILE)
        if not isinstance(raw, dict):
            raise RunDirError(f"{self.file(HPARAMS_FILE)} is damaged (a JSON {type(raw).__name__}, not an object "
                              "of hparams): restore it from a copy, or use another --output_dir")
        return HParams.from_json(json.dumps(raw))

    def read_info(self) -> RunInfo:
        raw = self._read_json(RUN_FILE)
        fields = {f.name for f in dataclasses.fields(RunInfo)}
        missing = [name for name in RunInfo.IDENTITY if not isinstance(raw, dict) or name not in raw]
        if missing:
            raise RunDirError(f"{self.file(RUN_FILE)} is damaged (no {', '.join(missing)}): restore it from a "
                              "copy, or use another --output_dir")
        return RunInfo(**{k: v for k, v in raw.items() if k in fields})

    def read_gin(self) -> str:
        """The run's gin config text ('' when the run wrote none)."""
        path = self.file(GIN_FILE)
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8") as f:
            return f.read()

    # -- checkpoints: one rule for every reader ---------------------------------------
    #
    # The checkpoint a run is read from -- by the trainer resuming, t2x-decoder, the exporter,
    # warm starting and averaging -- is chosen here, once: the newest *whole* checkpoint among
    # those the ``checkpoint`` index names and the ``ckpt-<step>`` files present. A checkpoint
    # that is missing (named by the index, files gone), has no or a truncated data file, or an
    # unreadable ``.index`` is skipped with a warning naming it and why; a damaged index is
    # ignored the same way (the files present still count). ``read_checkpoint`` then reads it,
    # falling back to the previous whole one when the read fails, and choosing again once when
    # the chosen checkpoint vanished while being read (a trainer rotating its checkpoints).

    def _index_paths(self) -> List[str]:
        """The prefixes the ``checkpoint`` index names (none when it is missing or damaged)."""
        import tensorflow as tf

        index = self.file("checkpoint")
        if not os.path.exists(index):
            return []
        try:
            state = tf.train.get_checkpoint_state(self.path)
        except (tf.errors.OpError, ValueError) as e:
            state = None
            logging.debug("checkpoint index unreadable: %s", e)
        if state is None:
            self._warn_once(f"{index} cannot be parsed: ignored, choosing among the ckpt-* files present")
            return []
        names = list(state.all_model_checkpoint_paths)
        if state.model_checkpoint_path and state.model_checkpoint_path not in names:
            names.append(state.model_checkpoint_path)
        return [p if os.path.isabs(p) else self.file(p) for p in names]

    def _warn_once(self, message: str) -> None:
        warned = self.__dict__.setdefault("_warned", set())
        if message not in warned:
            warned.add(message)
            logging.warning("%s", message)

    @staticmethod
    def _step_of(prefix: str) -> int:
        suffix = os.path.basename(prefix).rpartition("-")[2]
        return int(suffix) if suffix.isdigit() else -1

    def checkpoint_problem(self, prefix: str) -> Optional[str]:
        """Why checkpoint ``prefix`` is not whole (None when it is): its ``.index`` or a data
        file missing, the index unreadable, or the data shorter than the tensors it holds."""
        import tensorflow as tf

        if not os.path.exists(prefix + ".index"):
            return "its files are missing"
        directory, name = os.path.split(prefix)
        data = [os.path.join(directory, e) for e in os.listdir(directory) if e.startswith(name + ".data-")]
        if not data:
            return "its data file is missing"
        total = data[0].rpartition("-of-")[2]
        if total.isdigit() and len(data) < int(total):
            return f"{int(total) - len(data)} of its {int(total)} data files are missing"
        try:
            reader = tf.train.load_checkpoint(prefix)
            shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
        except (tf.errors.OpError, ValueError, IndexError) as e:
            return f"its index cannot be read ({(str(e).strip().splitlines() or [type(e).__name__])[0]})"
        need = 0  # bytes of the fixed-size tensors: a lower bound of the data's size
        for key, dtype in dtypes.items():
            if dtype.is_numpy_compatible and dtype != tf.string:
                count = 1
                for d in shapes[key]:
                    count *= d
                need += count * dtype.size
        have = sum(os.path.getsize(p) for p in data)
        if have < need:
            return f"its data is truncated ({have} of at least {need} bytes)"
        return None

    def checkpoints(self) -> List[str]:
        """The run's whole checkpoint prefixes, oldest first: those the index names and the
        ``ckpt-*`` files present; the others are skipped with a warning saying why."""
        named = {os.path.normpath(p) for p in self._index_paths()}
        candidates = sorted(named | set(self.checkpoint_files()), key=self._step_of)
        whole = []
        self.skipped_checkpoints: Dict[str, str] = {}  # prefix -> why, of the last call
        for prefix in candidates:
            problem = self.checkpoint_problem(prefix)
            if problem is None:
                whole.append(prefix)
            else:
                by = " (named by the 'checkpoint' index)" if prefix in named else ""
                self.skipped_checkpoints[prefix] = problem
                self._warn_once(f"skipping checkpoint {prefix}{by}: {problem}")
        return whole

    def latest_checkpoint(self) -> Optional[str]:
        """The newest whole checkpoint (``checkpoints()``), or None."""
        return (self.checkpoints() or [None])[-1]

    def checkpoint_files(self) -> List[str]:
        """Prefixes of the ``ckpt-<step>`` checkpoints present on disk, by step."""
        steps = []
        for name in os.listdir(self.path) if os.path.isdir(self.path) else []:
            stem, ext = os.path.splitext(name)
            if ext == ".index" and stem.startswith("ckpt-") and stem[5:].isdigit():
                steps.append(int(stem[5:]))
        return [self.file(f"ckpt-{s}") for s in sorted(steps)]

    def repair_checkpoint_index(self) -> Optional[str]:
        """Rebuilds a missing, damaged or stale ``checkpoint`` index (one naming a checkpoint
        whose files are gone, or not naming the newest present) from the ``ckpt-*`` files
        present (never a silent restart at step 0); returns the latest prefix when it rebuilt
        one. Removes the ``ckpt-*_temp`` folders of checkpoint writes that were killed (call
        it holding the lock)."""
        import tensorflow as tf

        for name in os.listdir(self.path) if os.path.isdir(self.path) and self._locked else []:
            if name.startswith("ckpt-") and name.endswith("_temp") and os.path.isdir(self.file(name)):
                # a checkpoint write killed half way (we hold the lock: nobody is writing it)
                logging.info("Removing %s, left by a checkpoint write that did not finish", self.file(name))
                shutil.rmtree(self.file(name), ignore_errors=True)
        present = self.checkpoint_files()
        if not present:
            return None
        if not os.path.exists(self.file("checkpoint")):
            why = "had no 'checkpoint' index"
        else:
            named = self._index_paths()
            gone = [p for p in named if not os.path.exists(p + ".index")]
            if not named:
                why = "has a 'checkpoint' index that cannot be parsed"
            elif gone:
                why = f"has a 'checkpoint' index naming {', '.join(os.path.basename(p) for p in gone)} (missing)"
            elif self._step_of(present[-1]) > max(self._step_of(p) for p in named):
                why = f"has a 'checkpoint' index that does not name {os.path.basename(present[-1])}"
            else:
                return None
        times = [os.path.getmtime(p + ".index") for p in present]
        tf.compat.v1.train.update_checkpoint_state(
            self.path, present[-1], all_model_checkpoint_paths=present,
            all_model_checkpoint_timestamps=times, last_preserved_timestamp=min(times) - 1)
        logging.warning("%s %s: rebuilt it from the %d checkpoint(s) present (%s)", self.path, why,
                        len(present), ", ".join(os.path.basename(p) for p in present))
        return present[-1]

    def checkpoint(self, checkpoint_path: Optional[str] = None) -> str:
        """The checkpoint to read: ``checkpoint_path`` when given (RunDirError naming it when
        it is missing or damaged), else the newest whole one (``checkpoints()``);
        RunDirError naming the fix when there is none."""
        if checkpoint_path:
            problem = self.checkpoint_problem(checkpoint_path)
            if problem == "its files are missing":
                raise RunDirError(f"no checkpoint at {checkpoint_path}: train first, or pass "
                                  "--checkpoint_path=<dir>/ckpt-<step>")
            if problem:
                raise RunDirError(f"--checkpoint_path={checkpoint_path} is damaged ({problem}): pass another "
                                  f"--checkpoint_path, or none for the newest whole checkpoint")
            return checkpoint_path
        path = self.latest_checkpoint()
        if not path:
            raise RunDirError(f"no checkpoint in {self.path}: train first, or pass "
                              "--checkpoint_path=<dir>/ckpt-<step>")
        return path

    def read_checkpoint(self, read: Callable[[str], Any], checkpoint_path: Optional[str] = None, *,
                        chosen: Optional[str] = None) -> Optional[str]:
        """Reads the run's checkpoint with ``read(prefix)``; returns the prefix read (None when
        the run has no checkpoint and none was asked for).

        ``checkpoint_path`` (an explicit ``--checkpoint_path``): that one or a RunDirError
        naming it. Else the newest whole checkpoint (``chosen`` when the caller chose it
        already): when its read fails, the previous whole one is read, with a warning; when
        it vanished while being read (rotated away by a trainer), the choice is made again,
        once. RunDirError when none can be read."""
        import tensorflow as tf

        if checkpoint_path:
            path = self.checkpoint(checkpoint_path)
            try:
                read(path)
            except (tf.errors.OpError, ValueError, IndexError, AssertionError) as e:
                raise RunDirError(f"--checkpoint_path={path} cannot be read ({first_line(e)}): pass another "
                                  "--checkpoint_path, or none for the newest whole checkpoint") from None
            return path
        failed: Dict[str, str] = {}
        chose_again = False
        path = chosen
        while True:
            if path is None:
                path = next((p for p in reversed(self.checkpoints()) if p not in failed), None)
            if path is None:
                failed = {**getattr(self, "skipped_checkpoints", {}), **failed}
                if not failed:
                    return None
                raise RunDirError(
                    f"no checkpoint of {self.path} can be read ("
                    + "; ".join(f"{os.path.basename(p)}: {why}"
                                for p, why in sorted(failed.items(), key=lambda item: -self._step_of(item[0])))
                    + "): delete them to start again, or use another --output_dir")
            try:
                read(path)
                return path
            except (tf.errors.OpError, ValueError, IndexError, AssertionError) as e:
                if isinstance(e, tf.errors.NotFoundError) and self.checkpoint_problem(path) is not None:
                    if chose_again:
                        raise RunDirError(
                            f"the checkpoints of {self.path} vanished twice while being read (a trainer "
                            "rotating them?): pass --checkpoint_path=<dir>/ckpt-<step> of one that is kept, "
                            "or raise the trainer's --keep_checkpoint_max") from None
                    logging.warning("checkpoint %s vanished while being read (a trainer rotated it away?): "
                                    "choosing again", path)
                    chose_again = True
                    path = None
                    continue
                failed[path] = first_line(e)
                logging.warning("checkpoint %s cannot be read (%s): trying the one before it", path, failed[path])
                path = None

    # -- comparing and writing ---------------------------------------------------------
    def config_diff(self, hparams: HParams, info: RunInfo) -> List[str]:
        """Readable differences between the run on disk and ``hparams``/``info`` (its
        identity fields only); empty when the directory holds no run yet."""
        if not os.path.exists(self.file(HPARAMS_FILE)):
            return []
        diff = self.read_hparams().diff(hparams)
        if os.path.exists(self.file(RUN_FILE)):
            old = self.read_info()
            diff += [f"{k}: {getattr(old, k)!r} -> {getattr(info, k)!r}" for k in RunInfo.IDENTITY
                     if getattr(old, k) != getattr(info, k)]
        return diff

    def check_config(self, hparams: HParams, info: RunInfo) -> None:
        """Refuses a changed configuration (ConfigError with the diff and the fix)."""
        diff = self.config_diff(hparams, info)
        if diff:
            raise ConfigError(
                f"{self.path} holds a run with another configuration ({'; '.join(diff)}); "
                "use another --output_dir, or pass --allow_config_change to continue anyway")

    def write_config(self, *, hparams: HParams, info: RunInfo, gin_config: str,
                     flags_text: Optional[str] = None) -> None:
        """Writes hparams.json, run.json, config.gin (and flags.txt), each atomically."""
        try:
            os.makedirs(self.path, exist_ok=True)
            write_text_atomic(self.file(HPARAMS_FILE), hparams.to_json())
            write_text_atomic(self.file(RUN_FILE), json.dumps(info.to_dict(), indent=2))
            write_text_atomic(self.file(GIN_FILE), gin_config)
            if flags_text is not None:
                write_text_atomic(self.file(FLAGS_FILE), flags_text)
        except OSError as e:
            raise unwritable(self.path, e) from None

    def copy_config_to(self, other: "RunDir") -> None:
        """Copies this run's configuration files into ``other`` (e.g. averaged checkpoints)."""
        os.makedirs(other.path, exist_ok=True)
        for name in CONFIG_FILES:
            if os.path.exists(self.file(name)):
                with atomic_path(other.file(name)) as tmp:
                    shutil.copyfile(self.file(name), tmp)

    # -- model selection -------------------------------------------------------------
    def read_best(self) -> Optional[Dict[str, Any]]:
        """The model-selection record (``best.json``), or None before the first evaluation."""
        path = self.file(BEST_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_best(self, record: Dict[str, Any]) -> None:
        write_text_atomic(self.file(BEST_FILE), json.dumps(record, indent=2, sort_keys=True))

    @property
    def best_dir(self) -> "RunDir":
        return RunDir(self.file(BEST_DIR))

    def keep_best_checkpoint(self, checkpoint_prefix: str) -> str:
        """Makes ``best/`` a run directory holding ``checkpoint_prefix``'s files (copied)
        and this run's configuration: staged beside it and swapped in whole, so ``best/``
        is always one complete checkpoint. Returns the new checkpoint prefix in ``best/``."""
        import tensorflow as tf

        best = self.file(BEST_DIR)
        directory, name = os.path.split(checkpoint_prefix)

        def write(staging: str) -> None:
            for entry in os.listdir(directory):
                if entry.startswith(name + "."):
                    shutil.copyfile(os.path.join(directory, entry), os.path.join(staging, entry))
            self.copy_config_to(RunDir(staging))
            tf.compat.v1.train.update_checkpoint_state(staging, name, all_model_checkpoint_paths=[name])

        atomic_dir(best, write)
        return os.path.join(best, name)

    # -- the lock ------------------------------------------------------------------------
    def lock_info(self) -> Optional[Dict[str, Any]]:
        """The holder of the run's lock (``pid``, ``host``, ``started``), or None."""
        try:
            with open(self.file(LOCK_FILE), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"pid": -1, "host": "?", "started": "?"}  # half-written by a dead writer

    def check_lock_free(self) -> None:
        """A RunLockedError when another live process holds the lock; nothing is written.
        Cheap (no TensorFlow): the trainer binary calls it before its heavy imports, so a
        second trainer is refused at once; ``acquire_lock`` is what takes it."""
        holder = self.lock_info()
        if holder and not self._stale(holder) and not self._mine(holder):
            raise RunLockedError(self._locked_message(holder))

    @staticmethod
    def _mine(holder) -> bool:
        return holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid()

    @staticmethod
    def _stale(holder) -> bool:
        return holder.get("host") in (socket.gethostname(), "?") and not pid_alive(int(holder.get("pid", -1)))

    def _locked_message(self, holder) -> str:
        return (f"{self.path} is in use by process {holder.get('pid')} on {holder.get('host')} "
                f"(since {holder.get('started')}); one trainer per run directory: wait for it, "
                f"stop it, or use another --output_dir")

    def acquire_lock(self) -> None:
        """Takes the run's lock (one trainer per run directory); a RunLockedError naming the
        holder when another live process has it; a lock of a dead process (same host) is
        taken over with a warning."""
        mine = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        created = not os.path.exists(self.path)
        for _ in range(2):
            try:
                os.makedirs(self.path, exist_ok=True)
                fd = os.open(self.file(LOCK_FILE), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.lock_info() or {}
                if self._mine(holder):
                    self._locked = True
                    return  # ours already
                if self._stale(holder):
                    logging.warning("Taking over the lock of %s left by process %s (%s, started %s), "
                                    "which is no longer running", self.path, holder.get("pid"),
                                    holder.get("host"), holder.get("started"))
                    os.remove(self.file(LOCK_FILE))
                    continue
                raise RunLockedError(self._locked_message(holder))
            except OSError as e:  # read-only, no permission, full disk, a file in the way
                self._remove_if_created(created)
                raise unwritable(self.path, e) from None
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(mine, f)
            except OSError as e:
                os.remove(self.file(LOCK_FILE))
                self._remove_if_created(created)
                raise unwritable(self.path, e) from None
            self._locked = True
            return
        raise RunLockedError(f"could not take the lock of {self.path}")

    def _remove_if_created(self, created: bool) -> None:
        """A refused trainer leaves nothing behind: the empty directory it made goes."""
        if created and os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)

    def release_lock(self) -> None:
        holder = self.lock_info()
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            os.remove(self.file(LOCK_FILE))
        self._locked = False

    # -- loading -----------------------------------------------------------------------
    def apply_gin(self) -> None:
        """Parses the run's config.gin into this process's gin config. Bindings of
        configurables this process does not have (a reader has no ``Trainer``: the trainer
        module is not imported to read a run) are skipped; the problem's (``*FromFiles``
        paths, mixture rates) apply."""
        import gin

        text = self.read_gin()
        if not text.strip():
            return
        try:
            gin.parse_config(text, skip_unknown=True)
        except (ValueError, KeyError, SyntaxError) as e:
            raise RunDirError(f"{self.file(GIN_FILE)} cannot be applied: {str(e).splitlines()[0]}") from None

    def load(self, *, data_dir: Optional[str] = None, t2x_usr_dir: Optional[str] = None) -> LoadedRun:
        """Reads the run back: its usr dir imported, its gin config applied, its problem
        built, its hparams read. ``data_dir`` overrides the recorded one."""
        from t2x import catalogue

        info = self.read_info()
        hparams = self.read_hparams()
        catalogue.load()
        usr_dir = t2x_usr_dir or info.t2x_usr_dir
        if usr_dir and not t2x_usr_dir:
            logging.info("Importing the run's --t2x_usr_dir=%s", usr_dir)
            catalogue.import_usr_dir(usr_dir)
        self.apply_gin()
        data_dir = os.path.abspath(os.path.expanduser(data_dir or info.data_dir or ""))
        if not data_dir or not os.path.isdir(data_dir):
            raise RunDirError(f"data_dir {data_dir!r} not found (the vocabulary is there): pass --data_dir")
        return LoadedRun(problem=registry.problem(info.problem), model_name=info.model,
                         hparams=hparams, hparams_set=info.hparams_set, data_dir=data_dir, info=info)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def unwritable(path: str, error: OSError) -> RunDirError:
    """The one-line error of an output directory that cannot be written (``error``: the
    OSError, e.g. read-only file system, permission denied, no space left on device)."""
    return RunDirError(f"--output_dir={path} cannot be written ({error.strerror or first_line(error)}): "
                       "free disk space, fix its permissions, or use another --output_dir")
