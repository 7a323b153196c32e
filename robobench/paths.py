"""Where commands may write: the output-path rules every command shares.

A command writes a file (``predict --out R.json``), a folder (``sweep --out``,
``leaderboard --out``), or files whose names come from entry names under a folder.
The rules, each broken one a :class:`~robobench.errors.UserError` naming the flag and
the path:

* a file path is not an existing folder, and a folder path is not an existing file;
  neither lies under an existing file;
* nothing is written inside a dataset folder (``--dataroot``, a nuScenes-C root): a
  dataset stays as it was generated or downloaded, and files written into it (a
  nuScenes-C under ``--dataroot``) would be read back as data by later runs;
* a path built from a name stays inside the folder it is built under
  (:func:`contained`), whatever the name.

Commands call :func:`output_file` or :func:`output_dir` on their outputs before
any work, so a mistake costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from robobench.errors import UserError

PathLike = str | os.PathLike


def is_inside(path: PathLike, root: PathLike) -> bool:
    """Whether ``path`` is ``root`` or lies below it, after resolving symlinks and ``..``."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def _file_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` that is not a folder (None when there is none)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _check_common(path: Path, flag: str, dataroots: Iterable[PathLike | None]) -> None:
    blocker = _file_ancestor(path)
    if blocker is not None:
        raise UserError(f"{flag} {path}: {blocker} is a file, not a folder; choose a path in a folder")
    for root in dataroots:
        if root is not None and is_inside(path, root):
            raise UserError(
                f"{flag} {path} is inside the dataset folder {root}; write outputs outside it "
                "(a dataset is read, never written, by this command)"
            )


def output_file(path: PathLike, flag: str = "--out", *, dataroots: Iterable[PathLike | None] = ()) -> Path:
    """``path`` as a file to write; ``UserError`` if it is a folder, under a file, or inside a dataroot."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file path (e.g. {path / 'results.json'})")
    _check_common(path, flag, dataroots)
    return path


def output_dir(path: PathLike, flag: str = "--out", *, dataroots: Iterable[PathLike | None] = ()) -> Path:
    """``path`` as a folder to write into; ``UserError`` if it is a file, under a file, or inside a dataroot."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder (it is created if missing)")
    _check_common(path, flag, dataroots)
    return path


def contained(root: PathLike, *parts: str) -> Path:
    """``root / parts...``, checked to stay inside ``root`` (``UserError`` otherwise).

    For paths built from names (entry names, train modes): a name such as ``../x`` or
    an absolute path must never lead a write outside the output folder.
    """
    path = Path(root).joinpath(*parts)
    if any(Path(p).is_absolute() for p in parts) or not is_inside(path, root):
        raise UserError(f"{'/'.join(parts)!r} would lead outside {root}; use names without '/', '..' or a leading '/'")
    return path
