"""The Dataset: batch contract, frames (checked against the devkit's own projections), depth maps,
corruption determinism, worker determinism, errors."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from robobench.conditions import Condition
from robobench.constants import CAMERAS
from robobench.contract import validate_batch
from robobench.data.dataset import (
    EVAL_CACHE_ENV,
    EvalInputCache,
    IMG_MEAN,
    IMG_STD,
    BEVDataset,
    DataConfig,
    ImageAug,
    apply_image_aug,
    aug_matrices,
    collate,
    normalize_views,
    points_in_boxes,
    sample_image_aug,
    sparse_depth,
)
from robobench.data.index import load_index
from robobench.errors import UserError
from tests.helpers.reference_paths import normalize_views_per_view, points_in_boxes_per_box, sparse_depth_lexsort

INPUT = [96, 256]


# -- pure geometry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aug",
    [
        ImageAug(0.5, (10, 30), False, 0.0),
        ImageAug(0.62, (3, 41), True, 0.0),
        ImageAug(0.55, (20, 25), True, 4.0),
        ImageAug(1.3, (100, 200), False, -5.0),
    ],
)
def test_image_aug_matrix_moves_pixels_where_the_warp_puts_them(aug: ImageAug) -> None:
    """A bright blob at original pixel p shows up at A @ p in the warped image (resize, crop, flip, rotate)."""
    img = np.zeros((225, 400, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    out_hw = (96, 256)
    checked = 0
    for _ in range(12):
        u, v = rng.integers(20, 380), rng.integers(20, 205)
        img[:] = 0
        img[v - 4 : v + 5, u - 4 : u + 5] = 255
        out, mat = apply_image_aug(img, aug, out_hw)
        pu, pv, _ = mat @ np.array([u, v, 1.0])
        if not (4 <= pu < out_hw[1] - 4 and 4 <= pv < out_hw[0] - 4):
            continue
        ys, xs = np.nonzero(out[..., 0] > 100)
        w = out[ys, xs, 0].astype(float)
        centroid = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
        assert np.allclose(centroid, [pu, pv], atol=0.6), (centroid, (pu, pv))
        checked += 1
    assert checked >= 3


def test_test_time_aug_is_centred_bottom_crop() -> None:
    cfg = DataConfig.from_dict({"input_size": [128, 352]})
    aug = sample_image_aug((900, 1600), cfg, None)
    assert aug.resize == pytest.approx(352 / 1600) and not aug.flip and aug.rotate == 0.0
    assert aug.crop == (0, int(900 * 352 / 1600) - 128)
    rng_augs = {sample_image_aug((900, 1600), cfg, np.random.default_rng(s)) for s in range(20)}
    assert len(rng_augs) == 20 and any(a.flip for a in rng_augs)


def test_sparse_depth_keeps_the_nearest_point_per_cell() -> None:
    """Hand-made: a camera at the ego origin looking along +x; three points, two in one cell."""
    cam2ego = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=float)  # cam z = ego x
    K = np.array([[100.0, 0, 64], [0, 100.0, 32], [0, 0, 1]])
    # ego (x fwd, y left, z up) -> camera (x = -y, y = -z, z = x)
    pts = np.array([[10.0, 0.0, 0.0], [5.0, 0.0, 0.0], [20.0, -4.0, 0.0], [-3.0, 0.0, 0.0]])
    depth, fg = sparse_depth(pts, cam2ego, K, np.eye(3), (64, 128), 8, 0.1, np.array([True, False, True, True]))
    assert depth.shape == (8, 16)
    # the two on-axis points land on pixel (64, 32) -> cell (4, 8): the nearer one (5 m) wins
    assert depth[4, 8] == pytest.approx(5.0) and not fg[4, 8]
    # (20, -4, 0): camera x = 4 -> u = 64 + 100 * 4 / 20 = 84 -> cell column 10
    assert depth[4, 10] == pytest.approx(20.0) and fg[4, 10]
    assert np.count_nonzero(depth) == 2  # the point behind the camera is dropped


def test_data_config_rejects_unknown_keys_and_bad_sizes() -> None:
    with pytest.raises(UserError, match="inptu_size"):
        DataConfig.from_dict({"inptu_size": [1, 2]})
    with pytest.raises(UserError, match="divisible"):
        DataConfig.from_dict({"input_size": [100, 256], "depth_downsample": 16})


# -- on the tiny synthetic world -------------------------------------------------------------


@pytest.fixture(scope="module")
def index(tiny_world):
    return load_index(tiny_world.dataroot, tiny_world.version)


@pytest.fixture(scope="module")
def nusc(tiny_world):
    from robobench.data.nusc import open_nuscenes

    return open_nuscenes(tiny_world.dataroot, tiny_world.version)


def _cfg(**kw):
    return DataConfig.from_dict({"input_size": INPUT, "depth_downsample": 8, **kw})


def test_batch_contract_shapes_and_dtypes(index, tiny_world) -> None:
    ds = BEVDataset(index, tiny_world.val_split, _cfg(radar=True, prev_frame=True))
    batch = collate([ds[0], ds[1]])
    validate_batch(batch)
    assert batch["imgs"].shape == (2, 6, 3, *INPUT) and batch["imgs"].dtype == torch.float32
    assert batch["depth"].shape == (2, 6, INPUT[0] // 8, INPUT[1] // 8)
    assert batch["intrins"].shape == (2, 6, 3, 3) and batch["cam2ego"].shape == (2, 6, 4, 4)
    assert batch["post_rots"].shape == (2, 6, 3, 3) and batch["post_trans"].shape == (2, 6, 3)
    assert batch["ego2global"].shape == (2, 4, 4)
    assert batch["points"][0].shape[1] == 5 and batch["radar"][0].shape[1] == 7
    assert len(batch["radar"][0]) > 0 and torch.isfinite(batch["radar"][0]).all()
    assert batch["gt_labels"][0].dtype == torch.long and batch["gt_attrs"][0].dtype == torch.long
    assert all(len(boxes) == len(labels) for boxes, labels in zip(batch["gt_boxes"], batch["gt_labels"]))
    prev = batch["prev"]
    assert prev["imgs"].shape == batch["imgs"].shape and prev["prev2cur"].shape == (2, 4, 4)
    rec0, rec1 = index[batch["sample_tokens"][0]], index[batch["sample_tokens"][1]]
    assert rec1.prev == rec0.token  # consecutive key frames of one scene
    expected = np.linalg.inv(rec1.ego2global) @ rec0.ego2global
    assert np.allclose(prev["prev2cur"][1].numpy(), expected, atol=1e-4)
    assert torch.allclose(prev["imgs"][1], batch["imgs"][0])  # the previous frame's views are its own views


def test_box_centres_project_where_the_devkit_projects_them(index, nusc, tiny_world) -> None:
    """Batch matrices (cam2ego^-1, intrins, post_rots/post_trans) agree with the devkit's ``view_points``
    on the original image, and the network image holds the original image's pixels there."""
    from nuscenes.utils.geometry_utils import view_points
    from PIL import Image

    ds = BEVDataset(index, tiny_world.val_split, _cfg())
    checked = 0
    for i in range(0, len(ds), max(1, len(ds) // 4)):
        item = ds[i]
        rec = index[item["sample_tokens"]]
        for n, cam in enumerate(CAMERAS):
            _, dk_boxes, K = nusc.get_sample_data(rec.cams[cam].token)
            original = np.asarray(Image.open(tiny_world.dataroot / rec.cams[cam].path).convert("RGB"))
            by_token = {b.token: b for b in dk_boxes}
            for box, ann in zip(rec.gt_boxes, rec.ann_tokens):
                if ann not in by_token or by_token[ann].center[2] < 2.0:
                    continue
                uv_dk = view_points(by_token[ann].center[:, None], np.asarray(K), normalize=True)[:2, 0]
                ego2cam = torch.linalg.inv(item["cam2ego"][n]).double()
                c = ego2cam[:3, :3] @ torch.tensor(box[:3], dtype=torch.float64) + ego2cam[:3, 3]
                uv = item["intrins"][n].double() @ (c / c[2])
                assert np.allclose(uv[:2].numpy(), uv_dk, atol=0.05)
                p = item["post_rots"][n].double() @ uv + item["post_trans"][n].double()
                pu, pv = int(round(p[0].item())), int(round(p[1].item()))
                ou, ov = int(round(uv_dk[0])), int(round(uv_dk[1]))
                if not (2 <= pu < INPUT[1] - 2 and 2 <= pv < INPUT[0] - 2):
                    continue
                if not (4 <= ou < original.shape[1] - 4 and 4 <= ov < original.shape[0] - 4):
                    continue
                net_rgb = item["imgs"][n, :, pv, pu].numpy() * IMG_STD + IMG_MEAN
                patch = original[ov - 2 : ov + 3, ou - 2 : ou + 3].reshape(-1, 3).astype(float)
                # resizing blends neighbouring pixels: the network pixel's colour lies within the colour
                # range of the original's neighbourhood of the devkit projection
                assert np.all(net_rgb >= patch.min(axis=0) - 3) and np.all(net_rgb <= patch.max(axis=0) + 3)
                checked += 1
    assert checked >= 5


def test_points_in_boxes_decides_as_the_devkit(index, tiny_world) -> None:
    """Every LiDAR point of every sample against its GT boxes, and random points around rotated boxes of
    mixed sizes (many near the faces, some boxes overlapping or pointless), as the devkit decides."""
    ds = BEVDataset(index, tiny_world.val_split, _cfg(), with_depth_fg=True)
    inside_total = 0
    for token in ds.tokens:
        rec = index[token]
        points = ds._lidar(rec)
        got = points_in_boxes(points, rec.gt_boxes)
        assert np.array_equal(got, points_in_boxes_per_box(points, rec.gt_boxes))
        inside_total += int(got.sum())
    assert inside_total > 100
    rng = np.random.default_rng(0)
    boxes = np.zeros((40, 9))
    boxes[:, :3] = rng.uniform(-20, 20, (40, 3))
    boxes[:, 3:6] = rng.uniform(0.3, 12, (40, 3))
    boxes[:, 6] = rng.uniform(-np.pi, np.pi, 40)
    boxes[5] = boxes[4]
    boxes[5, 6] += 0.3
    near_faces = boxes[rng.integers(0, 40, 20000), :3] + rng.normal(0, 3, (20000, 3))
    points = np.concatenate([near_faces, rng.uniform(-30, 30, (20000, 3))]).astype(np.float32)
    got = points_in_boxes(points, boxes)
    assert np.array_equal(got, points_in_boxes_per_box(points, boxes))
    assert 1000 < got.sum() < len(points) - 1000
    assert not points_in_boxes(points, boxes[:0]).any() and len(points_in_boxes(points[:0], boxes)) == 0


def test_depth_maps_equal_lidar_camera_depths_from_the_devkit(index, nusc, tiny_world) -> None:
    """Independent path: the devkit's ``map_pointcloud_to_image`` (LiDAR -> global -> camera at its own
    timestamp), binned with the batch's augmentation matrices; min depth per cell must match."""
    ds = BEVDataset(index, tiny_world.val_split, _cfg(depth_min=1.0))
    item = ds[len(ds) // 2]
    rec = index[item["sample_tokens"]]
    d = 8
    h, w = INPUT[0] // d, INPUT[1] // d
    compared = 0
    for n, cam in enumerate(CAMERAS):
        pts, depths, _ = nusc.explorer.map_pointcloud_to_image(rec.lidar.token, rec.cams[cam].token)
        uv = item["post_rots"][n, :2, :2].double().numpy() @ pts[:2] + item["post_trans"][n, :2, None].double().numpy()
        cols = np.floor((uv[0] + 0.5) / d).astype(int)
        rows = np.floor((uv[1] + 0.5) / d).astype(int)
        expected = np.full((h, w), np.inf)
        ok = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        np.minimum.at(expected, (rows[ok], cols[ok]), depths[ok])
        got = item["depth"][n].numpy()
        interior = np.zeros((h, w), dtype=bool)
        interior[:-1, 1:-1] = True  # the devkit drops points within 1 px of the original border
        has = np.isfinite(expected) & interior
        assert np.allclose(got[has], expected[has], atol=2e-3)
        assert not np.any(got[interior & ~np.isfinite(expected)])
        compared += int(has.sum())
    assert compared > 50


def test_corrupted_condition_changes_images_deterministically(index, tiny_world) -> None:
    clean = BEVDataset(index, tiny_world.val_split, _cfg())[0]["imgs"]
    fog = [
        BEVDataset(index, tiny_world.val_split, _cfg(), condition=Condition.parse("Fog:hard"))[0]["imgs"]
        for _ in range(2)
    ]
    assert torch.equal(fog[0], fog[1])
    assert (fog[0] - clean).abs().mean() > 0.1
    other_seed = BEVDataset(index, tiny_world.val_split, _cfg(), condition=Condition.parse("Fog:hard"), seed=1)[0][
        "imgs"
    ]
    assert not torch.equal(other_seed, fog[0])


def test_training_items_are_identical_with_two_workers(index, tiny_world) -> None:
    ds = BEVDataset(index, tiny_world.train_split, _cfg(), train=True, seed=3, max_samples=4)
    ds.set_epoch(1)

    def load(workers: int) -> list[dict]:
        return list(DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate))

    serial, parallel = load(0), load(2)
    for a, b in zip(serial, parallel):
        for key in ("imgs", "post_rots", "post_trans", "depth"):
            assert torch.equal(a[key], b[key])
    ds.set_epoch(2)
    assert not torch.equal(ds[0]["post_rots"], serial[0]["post_rots"][0])  # a new epoch draws new augmentation


def test_missing_files_and_unknown_split_are_user_errors(index, tiny_world) -> None:
    with pytest.raises(UserError, match="no_such_split"):
        BEVDataset(index, "no_such_split", _cfg())
    broken = copy.deepcopy(index)
    ds = BEVDataset(broken, tiny_world.val_split, _cfg())
    rec = broken[ds.tokens[0]]
    rec.cams["CAM_BACK"].path = "samples/CAM_BACK/missing.jpg"
    with pytest.raises(UserError, match="missing.jpg"):
        ds[0]
    rec.cams["CAM_BACK"].path = index[ds.tokens[0]].cams["CAM_BACK"].path
    rec.lidar.path = "samples/LIDAR_TOP/missing.pcd.bin"
    with pytest.raises(UserError, match="missing.pcd.bin"):
        ds[0]


def test_views_are_read_from_a_nuscenes_c_root(index, tiny_world, tmp_path) -> None:
    """With ``corrupt_root`` the views come from ``<root>/<Corruption>/<level>/<CAM>/<file>``."""
    import shutil

    import cv2

    ds = BEVDataset(index, tiny_world.val_split, _cfg(), condition=Condition.parse("Snow:mid"), corrupt_root=tmp_path)
    rec = index[ds.tokens[0]]
    for cam in CAMERAS:
        src = tiny_world.dataroot / rec.cams[cam].path
        dst = tmp_path / "Snow" / "mid" / cam / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if cam == "CAM_BACK":
            cv2.imwrite(str(dst), np.zeros_like(cv2.imread(str(src))))
        else:
            shutil.copy(src, dst)
    clean = BEVDataset(index, tiny_world.val_split, _cfg())[0]["imgs"]
    item = ds[0]["imgs"]
    back = CAMERAS.index("CAM_BACK")
    black = torch.from_numpy((0 - IMG_MEAN) / IMG_STD).view(3, 1, 1)
    assert torch.allclose(item[back], black.expand_as(item[back]), atol=1e-5)
    others = [i for i in range(6) if i != back]
    assert torch.equal(item[others], clean[others])
    with pytest.raises(UserError, match="missing"):
        ds[1]


def test_training_corruption_is_seeded_per_item_and_shared_with_the_previous_frame(index, tiny_world) -> None:
    from robobench.data.corrupt_aug import RandomCorruption

    def item(corrupt: bool) -> dict:
        aug = RandomCorruption(p=1.0, seed=0, corruptions=["Brightness"]) if corrupt else None
        ds = BEVDataset(index, tiny_world.train_split, _cfg(prev_frame=True), train=True, seed=1, train_corruption=aug)
        return ds[1]

    clean, corrupted, again = item(False), item(True), item(True)
    assert torch.equal(corrupted["imgs"], again["imgs"]) and torch.equal(corrupted["post_rots"], clean["post_rots"])
    # brightness raises every view and the previous frame's views alike
    assert corrupted["imgs"].mean() > clean["imgs"].mean() + 0.1
    assert corrupted["prev"]["imgs"].mean() > clean["prev"]["imgs"].mean() + 0.1


def test_bev_aug_moves_points_and_boxes_together(index, tiny_world) -> None:
    """Under the BEV-space augmentation every LiDAR point stays in the box it was in, and each
    transformed box equals the transform of the original box's corners (rotation, scale, mirrors)."""
    from robobench.data.dataset import apply_bev_aug, points_in_boxes, sample_bev_aug

    cfg = DataConfig.from_dict(
        {"camera": False, "bev_rot_lim": [-45, 45], "bev_scale_lim": [0.9, 1.1], "bev_flip": True}
    )
    plain = BEVDataset(index, tiny_world.train_split, DataConfig.from_dict({"camera": False}), train=True, seed=3)
    aug = BEVDataset(index, tiny_world.train_split, cfg, train=True, seed=3)
    a, b = plain[0], aug[0]
    assert not torch.allclose(a["gt_boxes"], b["gt_boxes"])
    before = points_in_boxes(a["points"].numpy(), a["gt_boxes"].double().numpy())
    after = points_in_boxes(b["points"].numpy(), b["gt_boxes"].double().numpy())
    assert (before == after).mean() > 0.999 and before.sum() > 100

    def corners(box: np.ndarray) -> np.ndarray:
        c, s = np.cos(box[6]), np.sin(box[6])
        local = np.array([[dx * box[4] / 2, dy * box[3] / 2] for dx in (-1, 1) for dy in (-1, 1)])
        return local @ np.array([[c, s], [-s, c]]) + box[:2]

    rng = np.random.default_rng(0)
    boxes = np.c_[
        rng.uniform(-30, 30, (20, 3)),
        rng.uniform(0.5, 5, (20, 3)),
        rng.uniform(-np.pi, np.pi, 20),
        rng.normal(size=(20, 2)),
    ]
    for seed in range(8):
        mat = sample_bev_aug(cfg, np.random.default_rng(seed))
        _, moved, _ = apply_bev_aug(mat, np.zeros((0, 5)), boxes, np.zeros((0, 7)))
        for old, new in zip(boxes, moved):
            want = corners(old) @ mat[:2, :2].T
            got = corners(new)
            assert np.abs(want[:, None] - got[None]).sum(-1).min(1).max() < 1e-6  # the same four corners
            front = old[:2] + old[4] / 2 * np.array(
                [np.cos(old[6]), np.sin(old[6])]
            )  # corners are symmetric in yaw + pi
            np.testing.assert_allclose(
                new[:2] + new[4] / 2 * np.array([np.cos(new[6]), np.sin(new[6])]), mat[:2, :2] @ front, atol=1e-9
            )
            np.testing.assert_allclose(new[7:9], mat[:2, :2] @ old[7:9], atol=1e-9)


def test_camera_bev_aug_returns_the_matrix_it_applied_and_leaves_the_views_alone(index, tiny_world) -> None:
    """A camera model's batch under BEVDet's BDA: ``bda`` is the matrix that moved points, boxes and
    radar; the views, their augmentation and the depth maps are those of the un-augmented item;
    without training (or without ``data.bev_*``) ``bda`` is the identity."""
    assert not DataConfig.from_dict({}).bev_aug
    aug_cfg = _cfg(radar=True, bev_rot_lim=[-22.5, 22.5], bev_scale_lim=[0.95, 1.05], bev_flip=True)
    assert aug_cfg.camera and aug_cfg.bev_aug
    plain = BEVDataset(index, tiny_world.train_split, _cfg(radar=True), train=True, seed=3)[0]
    aug = BEVDataset(index, tiny_world.train_split, aug_cfg, train=True, seed=3)[0]
    bda = aug["bda"]
    assert torch.equal(plain["bda"], torch.eye(3)) and not torch.allclose(bda, torch.eye(3))
    for key in ("imgs", "intrins", "post_rots", "post_trans", "cam2ego", "depth"):
        assert torch.equal(plain[key], aug[key]), key
    torch.testing.assert_close(aug["points"][:, :3], plain["points"][:, :3] @ bda.T, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(aug["radar"][:, :3], plain["radar"][:, :3] @ bda.T, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(aug["gt_boxes"][:, :3], plain["gt_boxes"][:, :3] @ bda.T, atol=1e-4, rtol=1e-5)
    evaluation = BEVDataset(index, tiny_world.val_split, aug_cfg)
    batch = collate([evaluation[0], evaluation[1]])
    validate_batch(batch)
    assert torch.equal(batch["bda"], torch.eye(3).expand(2, 3, 3))


def test_lidar_only_items_skip_the_views_and_draw_the_same_augmentation(index, tiny_world) -> None:
    """A LiDAR-only config (``camera: false``, the teachers') gives no camera tensors, depth maps or
    previous frame, and the same points, boxes and ``bda`` as the camera item of the same seed and
    epoch: skipping the views must not shift the random draws a teacher trains with."""
    from robobench.contract import CAMERA_KEYS

    aug = {"bev_rot_lim": [-45, 45], "bev_scale_lim": [0.9, 1.1], "lidar": True, "lidar_sweeps": 2, "prev_frame": True}
    camera = BEVDataset(index, tiny_world.train_split, _cfg(**aug), train=True, seed=5, with_depth_fg=True)
    lidar = BEVDataset(index, tiny_world.train_split, _cfg(camera=False, **aug), train=True, seed=5, with_depth_fg=True)
    for ds in (camera, lidar):
        ds.set_epoch(2)
    for i in (0, 3):
        a, b = camera[i], lidar[i]
        assert not set(b) & {*CAMERA_KEYS, "depth_fg", "prev"}
        assert set(b) == set(a) - {*CAMERA_KEYS, "depth_fg", "prev"}
        assert not torch.equal(a["bda"], torch.eye(3))
        for key in ("bda", "ego2global", "points", "gt_boxes", "gt_labels", "gt_attrs"):
            assert torch.equal(a[key], b[key]), key
    batch = collate([lidar[0], lidar[1]])
    validate_batch(batch)
    partial = {**batch, "imgs": collate([camera[0], camera[1]])["imgs"]}
    with pytest.raises(ValueError, match="lacks keys"):
        validate_batch(partial)


# -- the evaluation-input cache ---------------------------------------------------------------


def test_input_cache_keeps_the_first_entries_that_fit(monkeypatch) -> None:
    """Entries are kept while they fit and never evicted: a split read in passes (cells, epochs)
    larger than the budget is served from memory for the share that fits, every pass."""
    cache = EvalInputCache(3000)
    calls = []

    def make(n: int):
        return lambda: calls.append(n) or np.zeros(n, dtype=np.uint8)

    a = cache.get(("a",), make(1000))
    assert not a.flags.writeable  # a consumer writing into a cached array fails loudly
    cache.get(("b",), make(1000))
    for _ in range(2):  # two passes over a split of four entries, two of which fit
        assert cache.get(("a",), make(1000)) is a
        cache.get(("c",), make(1500))  # does not fit beside a and b: computed, not kept
        cache.get(("b",), make(1000))
    assert cache.used == 2000 and set(cache.entries) == {("a",), ("b",)} and calls == [1000, 1000, 1500, 1500]
    cache.get(("big",), make(4000))  # larger than the budget: computed, not kept
    assert ("big",) not in cache.entries
    cache.clear()
    assert cache.used == 0 and cache.entries == {}
    tensors = cache.get(("t",), lambda: {"depth": torch.zeros(100)})
    assert cache.get(("t",), lambda: {}) is tensors
    monkeypatch.setenv(EVAL_CACHE_ENV, "0")
    off = EvalInputCache.from_env()
    off.get(("a",), make(1))
    assert off.entries == {}
    monkeypatch.setenv(EVAL_CACHE_ENV, "lots")
    with pytest.raises(UserError, match=EVAL_CACHE_ENV):
        EvalInputCache.from_env()


@pytest.mark.parametrize("condition", ["clean", "Fog:hard", "Snow:mid", "MotionBlur:easy", "CameraCrash:hard"])
def test_cached_evaluation_items_equal_uncached_ones(index, tiny_world, condition, monkeypatch) -> None:
    """Items read through the cache (twice: filling it, then hitting it) equal items read without it."""
    cond = Condition.parse(condition)
    cfg = _cfg()
    monkeypatch.setattr("robobench.data.dataset._EVAL_CACHE", EvalInputCache(0))
    plain = BEVDataset(index, tiny_world.val_split, cfg, condition=cond, with_depth_fg=True)
    reference = [plain[i] for i in range(3)]
    cache = EvalInputCache(2**30)
    monkeypatch.setattr("robobench.data.dataset._EVAL_CACHE", cache)
    cached = BEVDataset(index, tiny_world.val_split, cfg, condition=cond, with_depth_fg=True)
    for _ in range(2):
        for i, ref in enumerate(reference):
            item = cached[i]
            for key in ("imgs", "depth", "depth_fg", "points", "gt_boxes"):
                assert torch.equal(item[key], ref[key]), (condition, key)
    assert cache.used > 0 and len(cache.entries) == 6  # views and depth maps of three samples


def test_a_rewritten_image_is_read_again(tmp_path: Path) -> None:
    from robobench.data.dataset import _files_key

    image = tmp_path / "view.jpg"
    image.write_bytes(b"one")
    before = _files_key([image])
    image.write_bytes(b"second")
    assert _files_key([image]) != before
    image.unlink()
    with pytest.raises(UserError, match="missing"):
        _files_key([image])


# -- the training data path held to its reference ------------------------------------------------


def test_depth_maps_equal_the_lexsort_reference(index, tiny_world) -> None:
    """:func:`sparse_depth` (project once, move per augmentation, one stable sort of cells) equals the
    old per-call projection and lexsort, depths and flags, on every view of the tiny world's training
    samples under random augmentations, and where several points tie at the nearest depth of a cell."""
    from robobench.contract import key_sweep

    ds = BEVDataset(index, tiny_world.train_split, _cfg(), train=True)
    rng = np.random.default_rng(0)
    compared = 0
    for token in ds.tokens:
        rec = index[token]
        points = key_sweep(ds._lidar(rec))
        flags = rng.random(len(points)) < 0.3
        for c in CAMERAS:
            cam = rec.cams[c]
            a_resize, rest = aug_matrices((396, 704), sample_image_aug((396, 704), ds.cfg, rng), ds.cfg.input_size)
            args = (points, cam.sensor2ego, cam.intrinsic, rest @ a_resize, ds.cfg.input_size, 8, 0.1, flags)
            new, ref = sparse_depth(*args), sparse_depth_lexsort(*args)
            assert np.array_equal(new[0], ref[0]) and np.array_equal(new[1], ref[1]), (token, c)
            compared += np.count_nonzero(ref[0])
    assert compared > 1000
    cam2ego = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=float)
    K = np.array([[100.0, 0, 64], [0, 100.0, 32], [0, 0, 1]])
    ties = np.array([[5.0, 0.0, 0.0], [5.0, 0.01, 0.0], [5.0, 0.0, 0.0], [9.0, 0.0, 0.0]] * 3)
    tie_flags = np.array([False, True, True, False] * 3)
    for order in (np.arange(12), np.arange(12)[::-1]):
        args = (ties[order], cam2ego, K, np.eye(3), (64, 128), 8, 0.1, tie_flags[order])
        new, ref = sparse_depth(*args), sparse_depth_lexsort(*args)
        assert np.array_equal(new[0], ref[0]) and np.array_equal(new[1], ref[1])


def test_normalized_views_equal_the_per_view_reference() -> None:
    views = [np.random.default_rng(i).integers(0, 256, (40, 72, 3), dtype=np.uint8) for i in range(6)]
    new, ref = normalize_views(views), normalize_views_per_view(views)
    assert new.dtype == ref.dtype == torch.float32 and new.is_contiguous()
    assert torch.equal(new, ref)


def test_cached_training_items_equal_uncached_ones(index, tiny_world, monkeypatch) -> None:
    """Training items whose decoded views and camera points come from the cache (read-only, shared
    between epochs, also under a training-time corruption) equal items computed afresh."""
    from robobench.data.corrupt_aug import RandomCorruption

    def items(cache: EvalInputCache, corruption: object) -> list[dict]:
        monkeypatch.setattr("robobench.data.dataset._EVAL_CACHE", cache)
        ds = BEVDataset(index, tiny_world.train_split, _cfg(), train=True, seed=3, train_corruption=corruption)
        out = []
        for epoch in (0, 1, 0):
            ds.set_epoch(epoch)
            out += [ds[i] for i in range(3)]
        return out

    for corruption in (None, RandomCorruption(p=1.0, seed=1)):
        cache = EvalInputCache(2**30)
        cached, plain = items(cache, corruption), items(EvalInputCache(0), corruption)
        assert len(cache.entries) == 6  # views and camera points of three samples
        for a, b in zip(cached, plain):
            for key in ("imgs", "depth", "points", "gt_boxes", "post_rots", "post_trans"):
                assert torch.equal(a[key], b[key]), key
        assert not torch.equal(cached[0]["imgs"], cached[3]["imgs"])  # epochs draw other augmentations
