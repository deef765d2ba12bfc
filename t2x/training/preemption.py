"""Preemption: SIGTERM (what a scheduler or a preempted machine sends) and SIGINT (Ctrl-C)
stop training cleanly, as Model Garden's preemption handler does.

    with StopSignals() as stop:
        while training:
            run_one_step()
            if stop.requested:
                save_checkpoint()
                raise Preempted(stop.message(step, path), exit_code=stop.exit_code)

The handler only records the signal: the step in flight finishes, the loop saves a
checkpoint at the step reached, and ``Preempted`` carries one line saying where; the
binaries print it and exit with ``128 + signal`` (143 for SIGTERM, 130 for SIGINT), and
the same command resumes from that checkpoint. A second signal while the first is being
handled stops at once (the default behaviour). Handlers are installed only in the main
thread and restored on exit.
"""

import signal
import threading
from typing import Dict, Optional

from t2x.errors import Preempted  # noqa: F401  (raised by the trainer; re-exported)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Context manager: ``requested`` becomes True on SIGTERM or SIGINT."""

    def __init__(self):
        self.signum: Optional[int] = None
        self._previous: Dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def message(self, step: int, checkpoint: str) -> str:
        return (f"stopped by {self.name} at step {step}: checkpoint {checkpoint} saved; "
                "run the same command again to resume from it")

    def _handle(self, signum, frame):
        del frame
        self.signum = signum
        for s, previous in self._previous.items():  # a second signal: the default action
            signal.signal(s, previous)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous = {}
