"""nuScenes-C on disk: write corrupted camera images in RoboBEV's layout, and find them.

Layout (RoboBEV ``corruptions/tools/generate_dataset.py``)::

    <root>/<Corruption>/<easy|mid|hard>/<CAM_NAME>/<original file name>

:func:`nuscenes_c_path` maps a view to that path, for our roots and the officially
released one alike. :func:`write_nuscenes_c` generates a root from a nuScenes dataroot
(real or synthetic, read through the devkit): in parallel, with a progress bar,
resumable (complete files are skipped; every file is written to a temporary name and
renamed, so a kill never leaves a truncated JPEG under the final name).

The images equal what the on-the-fly path gives (:func:`corruptions.corrupt_views` with
the sample token and the camera names), then JPEG-encoded like RoboBEV's ``mmcv.imwrite``
(quality 95). Key frames are seeded by their sample token; with ``all_frames`` the sweeps
(non-key camera frames) are corrupted too, each seeded by its own sample_data token.
RoboBEV's released nuScenes-C holds key frames only.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from corruptions import CORRUPTIONS, LEVELS, canonical_level, canonical_name, corrupt, corrupt_views
from robobench.constants import CAMERAS
from robobench.errors import UserError
from robobench.io import atomic_write

#: JPEG quality of ``mmcv.imwrite`` / OpenCV's default, which RoboBEV used.
JPEG_QUALITY = 95

_TMP_PREFIX = ".partial-"
#: The flag that lets a command proceed over damaged images (:func:`check_images`).
ALLOW_DAMAGED_FLAG = "--allow-damaged-images"


class NuScenesCMissing(UserError):
    """A corrupted image the evaluation needs is not in the nuScenes-C root."""


def nuscenes_c_path(
    root: str | os.PathLike, corruption: str, level: str, camera: str, filename: str, *, must_exist: bool = True
) -> Path:
    """Path of one corrupted view under a nuScenes-C root.

    ``corruption`` and ``level`` accept any spelling :mod:`corruptions.spec` accepts;
    ``filename`` is the original file's base name. With ``must_exist`` a missing file
    raises :class:`NuScenesCMissing` naming it and the command that writes it.
    """
    corr, lvl = canonical_name(corruption), canonical_level(level)
    path = Path(root) / corr / lvl / camera / Path(filename).name
    if must_exist and not path.is_file():
        raise NuScenesCMissing(
            f"nuScenes-C image {path} is missing; write it with `robobench corrupt --dataroot D --version V "
            f"--split S --out {root} --corruptions {corr} --levels {lvl}` or point to a complete nuScenes-C root"
        )
    return path


def is_complete(path: Path) -> bool:
    """True if ``path`` holds a whole image (JPEG ends with EOI, PNG with IEND)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        with path.open("rb") as fh:
            fh.seek(max(0, size - 12))
            tail = fh.read()
    except OSError:
        return False
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return tail.endswith(b"\xff\xd9")
    if suffix == ".png":
        return b"IEND" in tail
    return True


def check_images(paths: Iterable[Path], where: str, allow_damaged: bool = False) -> int:
    """Count the damaged images among ``paths`` (truncated: a JPEG without its end marker, a
    PNG without IEND, an empty file; see :func:`is_complete`); returns the count.

    OpenCV decodes a truncated JPEG into a partly grey image with only a libjpeg warning on
    standard error, so a model would be scored on broken inputs without a word. Damaged
    images are a ``UserError`` naming them and their count, unless ``allow_damaged`` (the
    command's ``--allow-damaged-images``): then one warning line on standard error says how
    many there are. Reads only the last bytes of each file, so it costs a small fraction of
    decoding them. Missing files are left to the readers, which name them.
    """
    damaged = [p for p in paths if p.exists() and not is_complete(p)]
    if not damaged:
        return 0
    shown = ", ".join(str(p) for p in damaged[:3]) + (f" and {len(damaged) - 3} more" if len(damaged) > 3 else "")
    text = f"{len(damaged)} damaged image(s) in {where} (truncated: no end-of-image marker): {shown}"
    if not allow_damaged:
        raise UserError(f"{text}; re-generate or re-download them, or pass {ALLOW_DAMAGED_FLAG} to proceed over them")
    print(f"warning: {text}; proceeding because of {ALLOW_DAMAGED_FLAG}", file=sys.stderr)
    return len(damaged)


def add_allow_damaged_argument(parser: Any) -> None:
    """Add ``--allow-damaged-images`` (the same flag on every command that reads images)."""
    parser.add_argument(
        ALLOW_DAMAGED_FLAG,
        dest="allow_damaged_images",
        action="store_true",
        help="proceed over truncated images (counted and reported) instead of stopping",
    )


def check_eval_images(dataroot: Path, version: str, split: str, allow_damaged: bool) -> int:
    """Damaged images of the evaluation split stop a sweep before any training, not at its first
    evaluation hours later (each evaluation checks its images again); returns their count."""
    from robobench.data.dataset import BEVDataset
    from robobench.data.index import load_index

    images = BEVDataset(load_index(dataroot, version), split).image_paths()
    return check_images(images, f"{dataroot} (split {split!r})", allow_damaged)


def write_image_atomic(path: Path, rgb: np.ndarray) -> None:
    """Encode ``rgb`` by ``path``'s extension and move it into place atomically."""
    ok, buf = cv2.imencode(
        path.suffix or ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise UserError(f"cannot encode an image for {path}")
    with atomic_write(path, "wb", prefix=_TMP_PREFIX, fsync=False) as fh:
        fh.write(buf.tobytes())


@dataclass(frozen=True)
class FrameGroup:
    """Views corrupted together: the six key-frame views of a sample, or one sweep frame."""

    token: str  #: sample token (key frame) or sample_data token (sweep)
    cameras: tuple[str, ...]
    files: tuple[str, ...]  #: paths relative to the dataroot, one per camera


def frame_groups(dataroot: str | os.PathLike, version: str, split: str, all_frames: bool = False) -> list[FrameGroup]:
    """The frames of ``split`` to corrupt, read through the devkit."""
    from robobench.data.nusc import open_nuscenes, split_sample_tokens

    nusc = open_nuscenes(dataroot, version)
    tokens = split_sample_tokens(nusc, split)
    groups = []
    for token in tokens:
        sample = nusc.get("sample", token)
        files = tuple(nusc.get("sample_data", sample["data"][cam])["filename"] for cam in CAMERAS)
        groups.append(FrameGroup(token, CAMERAS, files))
    if all_frames:
        scenes = {nusc.get("sample", t)["scene_token"] for t in tokens}
        for sd in nusc.sample_data:
            if sd["is_key_frame"] or sd["sensor_modality"] != "camera":
                continue
            if nusc.get("sample", sd["sample_token"])["scene_token"] not in scenes:
                continue
            channel = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
            camera = nusc.get("sensor", channel["sensor_token"])["channel"]
            groups.append(FrameGroup(sd["token"], (camera,), (sd["filename"],)))
    return groups


@dataclass(frozen=True)
class _Job:
    dataroot: str
    out: str
    group: FrameGroup
    conditions: tuple[tuple[str, str], ...]
    seed: int


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"camera image {path} is missing or unreadable; check --dataroot")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _run_job(job: _Job) -> int:
    """Write every missing file of one frame group; returns how many were written."""
    group = job.group
    views = None
    written = 0
    for corruption, level in job.conditions:
        targets = [
            nuscenes_c_path(job.out, corruption, level, cam, f, must_exist=False)
            for cam, f in zip(group.cameras, group.files)
        ]
        if all(is_complete(t) for t in targets):
            continue
        if views is None:
            views = np.stack([_read_rgb(Path(job.dataroot) / f) for f in group.files])
        if len(group.cameras) == len(CAMERAS):
            out = corrupt_views(views, corruption, level, job.seed, sample_token=group.token, cameras=group.cameras)
        else:
            out = np.stack(
                [
                    corrupt(v, corruption, level, job.seed, sample_token=group.token, camera=c)
                    for v, c in zip(views, group.cameras)
                ]
            )
        for target, image in zip(targets, out):
            if not is_complete(target):
                write_image_atomic(target, image)
                written += 1
    return written


def _init_worker() -> None:
    cv2.setNumThreads(1)


def write_nuscenes_c(
    dataroot: str | os.PathLike,
    version: str,
    split: str,
    out: str | os.PathLike,
    corruptions: Sequence[str] = CORRUPTIONS,
    levels: Sequence[str] = LEVELS,
    *,
    workers: int = 1,
    seed: int = 0,
    all_frames: bool = False,
    progress: bool = True,
    allow_damaged_images: bool = False,
) -> int:
    """Write nuScenes-C for ``split`` under ``out``; returns the number of files written.

    Files already complete are skipped, so an interrupted run resumes where it stopped.
    Damaged source images stop it before anything is written (:func:`check_images`), unless
    ``allow_damaged_images``: a corrupted copy of a broken view is not a nuScenes-C image.
    """
    conditions = tuple((canonical_name(c), canonical_level(lvl)) for c in corruptions for lvl in levels)
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    groups = frame_groups(dataroot, version, split, all_frames)
    check_images(
        (Path(dataroot) / f for g in groups for f in g.files), f"the sources of split {split!r}", allow_damaged_images
    )
    jobs = [_Job(str(dataroot), str(out), g, conditions, seed) for g in groups]
    _remove_stale_partials(Path(out))
    written = 0
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(jobs), desc=f"nuScenes-C {split}", unit="frame", disable=not progress))
        results: Iterable[int]
        if workers == 1:
            results = map(_run_job, jobs)
        else:
            # spawn: workers must not inherit locks or thread pools of an importing process.
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker))
            results = pool.imap_unordered(_run_job, jobs, chunksize=1)
        for n in results:
            written += n
            bar.update(1)
    return written


def _remove_stale_partials(out: Path) -> None:
    """Delete temporary files a killed run left behind (they never carry a final name)."""
    if out.is_dir():
        for tmp in out.rglob(f"{_TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
