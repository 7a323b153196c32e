"""Picture of one sample: the six camera views with projected GT boxes, and a bird's-eye view.

Everything is read through the devkit (``get_sample_data`` for boxes in each sensor
frame, ``LidarPointCloud``/``RadarPointCloud`` for the points, ``Box.render`` for
drawing), so the picture shows what every reader of the dataset sees; it works on
real nuScenes too.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from nuscenes import NuScenes  # noqa: E402
from nuscenes.eval.detection.utils import category_to_detection_name  # noqa: E402
from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud  # noqa: E402
from nuscenes.utils.geometry_utils import BoxVisibility, transform_matrix  # noqa: E402
from PIL import Image  # noqa: E402
from pyquaternion import Quaternion  # noqa: E402

from robobench.constants import CAMERAS, DETECTION_CLASSES, LIDAR, RADARS  # noqa: E402
from robobench.errors import UserError  # noqa: E402

_CMAP = plt.get_cmap("tab10")
CLASS_COLORS = {c: _CMAP(i)[:3] for i, c in enumerate(DETECTION_CLASSES)}
_LAYOUT = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT")


def _sample_file(nusc: NuScenes, sd_token: str) -> str:
    path = nusc.get_sample_data_path(sd_token)
    if not Path(path).is_file():
        sd = nusc.get("sample_data", sd_token)
        raise UserError(f"{sd['channel']} file {path!r} of sample {sd['sample_token']} is missing; "
                        "the dataset is incomplete (regenerate or re-download it)")
    return path


def default_sample(nusc: NuScenes) -> str:
    """The middle key frame of the first scene (objects all around, not the scene edge)."""
    token = nusc.scene[0]["first_sample_token"]
    tokens = []
    while token:
        tokens.append(token)
        token = nusc.get("sample", token)["next"]
    return tokens[len(tokens) // 2]


def _color(category: str) -> tuple[float, float, float]:
    name = category_to_detection_name(category)
    return CLASS_COLORS.get(name, (0.5, 0.5, 0.5))


def _sensor_to_ego(nusc: NuScenes, sd_token: str) -> np.ndarray:
    cs = nusc.get("calibrated_sensor", nusc.get("sample_data", sd_token)["calibrated_sensor_token"])
    return transform_matrix(cs["translation"], Quaternion(cs["rotation"]))


def render_sample(nusc: NuScenes, sample_token: str, out: Path, bev_range: float = 55.0) -> Path:
    """Write a PNG of ``sample_token``: six views (2 x 3) with GT boxes and a BEV panel."""
    try:
        sample = nusc.get("sample", sample_token)
    except KeyError:
        raise UserError(f"sample token {sample_token!r} not found in {nusc.version} under {nusc.dataroot!r}; "
                        f"e.g. {nusc.sample[0]['token']}") from None
    missing = [ch for ch in (*CAMERAS, LIDAR) if ch not in sample["data"]]
    if missing:
        raise UserError(f"sample {sample_token} has no data for {', '.join(missing)}")
    fig = plt.figure(figsize=(22, 6.6), dpi=90)
    grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.05], wspace=0.03, hspace=0.06)
    for i, ch in enumerate(_LAYOUT):
        ax = fig.add_subplot(grid[i // 3, i % 3])
        sd_token = sample["data"][ch]
        path = _sample_file(nusc, sd_token)
        _, boxes, k = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.ANY)
        img = Image.open(path)
        ax.imshow(img)
        for box in boxes:
            c = _color(box.name)
            box.render(ax, view=k, normalize=True, colors=(c, c, c), linewidth=1.2)
        ax.set_xlim(0, img.size[0])
        ax.set_ylim(img.size[1], 0)
        ax.set_title(ch, fontsize=10)
        ax.axis("off")
    ax = fig.add_subplot(grid[:, 3])
    _render_bev(nusc, sample, ax, bev_range)
    scene = nusc.get("scene", sample["scene_token"])
    fig.suptitle(f"{nusc.version}  {scene['name']}  sample {sample_token}  ({len(sample['anns'])} boxes)", fontsize=12, y=0.99)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def _render_bev(nusc: NuScenes, sample: dict, ax, bev_range: float) -> None:
    """LiDAR (height-coloured), radar (with compensated velocity arrows) and GT boxes in the LiDAR key frame's ego frame."""
    lidar_sd = sample["data"][LIDAR]
    pc = LidarPointCloud.from_file(_sample_file(nusc, lidar_sd))
    pc.transform(_sensor_to_ego(nusc, lidar_sd))
    near = np.max(np.abs(pc.points[:2]), axis=0) < bev_range
    ax.scatter(pc.points[0, near], pc.points[1, near], c=np.clip(pc.points[2, near], -0.2, 3), s=0.3, cmap="viridis")
    ref_pose = nusc.get("ego_pose", nusc.get("sample_data", lidar_sd)["ego_pose_token"])
    global_to_ref = np.linalg.inv(transform_matrix(ref_pose["translation"], Quaternion(ref_pose["rotation"])))
    for ch in RADARS:
        if ch not in sample["data"]:
            continue
        sd_token = sample["data"][ch]
        rpc = RadarPointCloud.from_file(_sample_file(nusc, sd_token))
        if rpc.nbr_points() == 0:
            continue
        pose = nusc.get("ego_pose", nusc.get("sample_data", sd_token)["ego_pose_token"])
        to_ref = global_to_ref @ transform_matrix(pose["translation"], Quaternion(pose["rotation"])) \
            @ _sensor_to_ego(nusc, sd_token)
        xyz = to_ref[:3, :3] @ rpc.points[:3] + to_ref[:3, 3:4]
        vel = to_ref[:2, :2] @ rpc.points[8:10]
        ax.scatter(xyz[0], xyz[1], s=14, c="red", marker="o", edgecolors="white", linewidths=0.4, zorder=4)
        ax.quiver(xyz[0], xyz[1], vel[0], vel[1], color="red", angles="xy", scale_units="xy", scale=1.0, width=0.002,
                  zorder=4)
    for ann_token in sample["anns"]:
        box = nusc.get_box(ann_token)
        box.rotate(Quaternion(matrix=global_to_ref[:3, :3], atol=1e-6))
        box.translate(global_to_ref[:3, 3])
        c = _color(box.name)
        box.render(ax, view=np.eye(4), colors=(c, c, c), linewidth=1.2)
    ax.plot([0], [0], marker=(3, 0, -90), color="black", markersize=12)
    ax.set_xlim(-bev_range, bev_range)
    ax.set_ylim(-bev_range, bev_range)
    ax.set_aspect("equal")
    ax.set_title("BEV (ego frame): LiDAR by height, radar + velocity (red), GT boxes", fontsize=10)
    handles = [plt.Line2D([], [], color=CLASS_COLORS[c], lw=2, label=c) for c in DETECTION_CLASSES]
    ax.legend(handles=handles, loc="lower left", fontsize=7, ncol=2, framealpha=0.8)
