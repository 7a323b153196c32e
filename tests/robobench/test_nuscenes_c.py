"""nuScenes-C on disk: layout, equality with on-the-fly corruption, resume, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from corruptions import corrupt_views
from robobench.cli import main
from robobench.constants import CAMERAS
from robobench.data.nusc import open_nuscenes, split_sample_tokens
from robobench.nuscenes_c import JPEG_QUALITY, NuScenesCMissing, frame_groups, nuscenes_c_path, write_nuscenes_c


def _expected_bytes(world, token: str, corruption: str, level: str, seed: int = 0) -> list[bytes]:
    nusc = open_nuscenes(world.dataroot, world.version)
    sample = nusc.get("sample", token)
    files = [nusc.get("sample_data", sample["data"][c])["filename"] for c in CAMERAS]
    views = np.stack([cv2.cvtColor(cv2.imread(str(world.dataroot / f)), cv2.COLOR_BGR2RGB) for f in files])
    out = corrupt_views(views, corruption, level, seed, sample_token=token, cameras=CAMERAS)
    return [
        cv2.imencode(".jpg", cv2.cvtColor(v, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
        for v in out
    ]


def test_path_mapping_accepts_aliases_and_names_missing_files(tmp_path: Path) -> None:
    path = nuscenes_c_path(tmp_path, "motion_blur", "HARD", "CAM_FRONT", "samples/CAM_FRONT/a.jpg", must_exist=False)
    assert path == tmp_path / "MotionBlur" / "hard" / "CAM_FRONT" / "a.jpg"
    with pytest.raises(NuScenesCMissing, match=r"MotionBlur/hard/CAM_FRONT/a\.jpg.*robobench corrupt"):
        nuscenes_c_path(tmp_path, "MotionBlur", "hard", "CAM_FRONT", "a.jpg")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert nuscenes_c_path(tmp_path, "MotionBlur", "hard", "CAM_FRONT", "a.jpg") == path


def test_written_images_equal_on_the_fly_corruption(tiny_world, tmp_path: Path) -> None:
    out = tmp_path / "nusc_c"
    written = write_nuscenes_c(
        tiny_world.dataroot,
        tiny_world.version,
        tiny_world.val_split,
        out,
        ["Snow", "FrameLost"],
        ["mid"],
        progress=False,
    )
    nusc = open_nuscenes(tiny_world.dataroot, tiny_world.version)
    tokens = split_sample_tokens(nusc, tiny_world.val_split)
    assert written == len(tokens) * len(CAMERAS) * 2
    for token in tokens[:2]:
        sample = nusc.get("sample", token)
        for corruption in ("Snow", "FrameLost"):
            expected = _expected_bytes(tiny_world, token, corruption, "mid")
            for cam, data in zip(CAMERAS, expected):
                name = Path(nusc.get("sample_data", sample["data"][cam])["filename"]).name
                assert nuscenes_c_path(out, corruption, "mid", cam, name).read_bytes() == data


def test_rerun_skips_complete_files_and_repairs_partial_ones(tiny_world, tmp_path: Path) -> None:
    out = tmp_path / "nusc_c"
    args = (tiny_world.dataroot, tiny_world.version, tiny_world.val_split, out, ["Fog"], ["easy"])
    total = write_nuscenes_c(*args, progress=False)
    files = sorted((out / "Fog" / "easy").rglob("*.jpg"))
    assert len(files) == total
    good = files[3].read_bytes()
    files[3].write_bytes(good[: len(good) // 2])  # a truncated image, as a non-atomic writer would leave
    stale = files[5].parent / ".partial-abc.jpg"
    stale.write_bytes(b"\xff\xd8 half")
    mtime = files[0].stat().st_mtime_ns
    assert write_nuscenes_c(*args, progress=False) == 1
    assert files[3].read_bytes() == good
    assert not stale.exists()
    assert files[0].stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tiny_world, tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [
        sys.executable, "-m", "robobench", "corrupt", "--dataroot", str(tiny_world.dataroot),
        "--version", tiny_world.version, "--split", tiny_world.val_split, "--out", str(killed),
        "--corruptions", "Snow,MotionBlur", "--workers", "2", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(killed.rglob("*.jpg"))) < 40:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.relative_to(killed) for p in killed.rglob("*.jpg")}
    assert 40 <= len(done_before)
    rest = write_nuscenes_c(
        tiny_world.dataroot, tiny_world.version, tiny_world.val_split, killed, ["Snow", "MotionBlur"], progress=False
    )
    total = write_nuscenes_c(
        tiny_world.dataroot, tiny_world.version, tiny_world.val_split, clean, ["Snow", "MotionBlur"], progress=False
    )
    assert 0 < rest < total
    ours = {p.relative_to(killed): p.read_bytes() for p in killed.rglob("*") if p.is_file()}
    reference = {p.relative_to(clean): p.read_bytes() for p in clean.rglob("*") if p.is_file()}
    assert ours == reference


def test_cli_writes_and_renders_gallery(tiny_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    base = ["--dataroot", str(tiny_world.dataroot), "--version", tiny_world.version]
    assert main(["corrupt", *base, "--split", tiny_world.val_split, "--out", str(out), "--corruptions", "camera_crash",
                 "--levels", "hard", "--no-progress"]) == 0  # fmt: skip
    groups = frame_groups(tiny_world.dataroot, tiny_world.version, tiny_world.val_split)
    assert len(list((out / "CameraCrash" / "hard").rglob("*.jpg"))) == len(groups) * len(CAMERAS)
    png = tmp_path / "gallery.png"
    assert main(["corrupt", "gallery", *base, "--out", str(png)]) == 0
    grid = cv2.imread(str(png))
    front = cv2.imread(str(tiny_world.dataroot / groups[0].files[0]))
    assert grid is not None and grid.shape[1] > 4 * grid.shape[0] * front.shape[1] / front.shape[0] / 5
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["corrupt", "--out", "x"], "--dataroot"),
        (["corrupt", "--dataroot", "{root}", "--out", "{tmp}", "--corruptions", "Rain"], "unknown corruption 'Rain'"),
        (["corrupt", "--dataroot", "{root}", "--out", "{tmp}", "--levels", "extreme"], "easy, mid, hard"),
        (["corrupt", "--dataroot", "{tmp}/nowhere", "--out", "{tmp}"], "nowhere"),
        (["corrupt", "gallery", "--image", "{tmp}/missing.png", "--out", "{tmp}/g.png"], "missing.png"),
    ],
)
def test_cli_bad_input_is_one_line_error(
    tiny_world, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(root=tiny_world.dataroot, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
