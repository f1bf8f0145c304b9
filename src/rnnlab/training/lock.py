"""One process at a time per run directory.

``RUN/.lock`` holds the pid of the process training into ``RUN``, under an exclusive
``flock``: a second ``train --out RUN`` or ``train --resume RUN`` while the first runs is
refused with the other process named (exit 2). The kernel drops a ``flock`` when its
process dies, however it dies, so a lock left by a killed run is taken over at once,
with a note naming the process that held it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

__all__ = ["run_lock", "check_not_in_use", "LOCK_NAME"]

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _try_flock(fd: int, run_dir: str | Path, previous: str) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = f"process {previous}" if previous.isdigit() else "another process"
        raise InputError(f"{run_dir}: in use by {holder}, which is training into it; wait for it to finish "
                         f"or stop it (kill {previous}) before using this directory") from None


def check_not_in_use(run_dir: str | Path) -> None:
    """InputError naming the process that holds ``run_dir``'s lock, if one does (checked
    before anything else is said about the directory, e.g. that it holds a run)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        _try_flock(fd, run_dir, os.read(fd, 64).decode(errors="replace").strip())
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the duration; InputError naming the holder if another
    process has it. Without ``fcntl`` (Windows) this only records the pid."""
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        previous = os.read(fd, 64).decode(errors="replace").strip()
        _try_flock(fd, run_dir, previous)
        if previous.isdigit() and int(previous) != os.getpid() and not _alive(int(previous)):
            print(f"note: {run_dir}: took over the lock of process {previous}, which is no longer running",
                  file=sys.stderr)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        held = True
        yield
    finally:
        if locals().get("held"):  # a clean end: no pid left behind, so no note next time
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock; a killed process leaves its pid for the note above
