"""File I/O every part of robobench shares: atomic writes and checkpoints.

A file robobench writes is either complete or absent: :func:`atomic_write` writes to a
temporary file with a unique name (``tempfile.mkstemp``) in the destination's folder, fsyncs
it and moves it into place with ``os.replace``; on any error the temporary file is removed
and the destination keeps its previous content. A unique name matters when two processes
write the same file (two sweep workers, a rerun beside a running one): with one fixed
temporary name they would write into the same temporary file.

Checkpoints are read with ``torch.load(weights_only=True)``: a checkpoint is data, never code.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from robobench.errors import UserError

#: Config key of a distillation entry holding its teacher's final checkpoint (set by the sweep or by train_entry).
TEACHER_CHECKPOINT_KEY = "teacher_checkpoint"

#: The process's file-creation mask: ``mkstemp`` creates 0600 files, which a written file
#: should not keep (results and checkpoints are shared like any other file).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, prefix: str | None = None, fsync: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing (``mode`` ``"w"`` or ``"wb"``);
    it replaces ``path`` when the block ends without an error and is removed otherwise.

    ``prefix`` names the temporary file's start (default ``.<name>.``), e.g. so that a
    resumable writer can find and delete what a killed run left behind. ``fsync=False``
    skips flushing to the disk before the move: a killed process still leaves the file
    complete or absent, only a power loss may not (for many small files that a rerun rewrites).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes text ('w') or bytes ('wb'), not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(obj: Any, path: str | os.PathLike, **dump_options: Any) -> None:
    """``json.dumps(obj, **dump_options)`` into ``path`` atomically (:func:`atomic_write`).

    The text is encoded whole before it is written: ``json.dumps`` takes the C encoder, where
    ``json.dump`` into a file runs the pure-Python one (same bytes, several times slower; a
    results file of 160 samples x 500 boxes took seconds per evaluation cell). An object that
    cannot be encoded fails before the file is touched."""
    text = json.dumps(obj, **dump_options)
    with atomic_write(path) as fh:
        fh.write(text)


def save_checkpoint(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` into ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a robobench checkpoint with ``weights_only=True``; ``UserError`` if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated/foreign file: tell the user which one
        raise UserError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from None
