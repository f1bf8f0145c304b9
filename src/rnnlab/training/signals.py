"""Ctrl-C and SIGTERM during training: finish the step, checkpoint, exit resumable.

While :class:`StopRequests` is active, the first SIGINT or SIGTERM only sets
``requested``; the training loop checks it after each optimiser step, writes a checkpoint
and raises :class:`~rnnlab.errors.TrainingInterrupted` (exit 130 for SIGINT, 143 for
SIGTERM, the shells' convention). A second Ctrl-C stops at once (KeyboardInterrupt): the
checkpoints on disk are complete whenever that happens (:mod:`.checkpoint`).
"""

from __future__ import annotations

import signal
import sys
import threading

__all__ = ["StopRequests"]


class StopRequests:
    """Context manager; ``requested`` is the signal number received (None: none)."""

    def __init__(self, enabled: bool = True):
        # handlers can only be installed from the main thread
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: int | None = None
        self._saved: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested is not None:  # the second one: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.requested = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        print(f"\n{name}: finishing this step and writing a checkpoint (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequests":
        if self.enabled:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._saved[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._saved.items():
            signal.signal(s, handler)
        self._saved.clear()

    @property
    def exit_code(self) -> int:
        return 128 + int(self.requested or 0)
