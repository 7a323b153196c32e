"""An exclusive lock on a file, held by one process at a time, that says who holds it.

Two sweeps on the same output plan the same cells; without a lock both train the same
model into the same folder (twice the work, and two writers of one checkpoint). The
sweep takes :func:`exclusive` on a lock file inside each cell's model folder, so the
second process waits for the first, and then finds its finished checkpoint.

The lock is the operating system's (``fcntl.flock``), not the file's existence: the
kernel drops it when its holder exits, however it exits, so a killed holder never
blocks anyone. The lock file stays in place (removing it would let a waiter and a
newcomer lock two different files); while held it names its holder (host and pid),
which the waiting process prints. On a file system without locks (some network mounts
answer ``ENOLCK``) the block runs unlocked, with a warning: a sweep must not fail for
want of a guard against a second sweep.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path


def _holder(fd: int) -> str:
    """What the lock file says about its holder (written by :func:`exclusive` once it got the lock)."""
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, on_wait: Callable[[str], None] = lambda holder: None) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (created if missing) for the ``with`` block.

    When another process holds it, ``on_wait(holder)`` is called once with the holder's
    description (``"pid 123 on host h"``) and the call blocks until the lock is free.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(_holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
                raise
            warnings.warn(
                f"{path}: this file system has no file locks ({exc.strerror}); "
                "two sweeps on this output may repeat each other's work",
                stacklevel=3,
            )
            yield
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
