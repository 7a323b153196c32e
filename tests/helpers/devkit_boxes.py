"""Hand-built devkit boxes and the devkit's own metrics on them, or on a results file: the reference the
vectorised detection metrics are compared with (their core, the scene bootstrap, the full path)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.detection.data_classes import DetectionBox
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.eval.detection.utils import detection_name_to_rel_attributes
from pyquaternion import Quaternion

from robobench.constants import DETECTION_CLASSES
from robobench.metrics.detection import DetectionResult

CFG = config_factory("detection_cvpr_2019")
TOL = 1e-9


def devkit_metrics(gt: EvalBoxes, pred: EvalBoxes):
    """Run the devkit's own ``DetectionEval.evaluate`` on already-filtered boxes."""
    ev = DetectionEval.__new__(DetectionEval)
    ev.cfg, ev.gt_boxes, ev.pred_boxes, ev.verbose = CFG, gt, pred, False
    metrics, _ = ev.evaluate()
    return metrics


def assert_equal_to_devkit(ours: DetectionResult, metrics) -> float:
    """Every number equal within TOL (nan where the devkit has nan); returns the largest gap."""
    gaps = [abs(ours.nds - metrics.nd_score), abs(ours.map - metrics.mean_ap)]
    for name, value in metrics.tp_errors.items():
        gaps.append(abs(ours.tp_errors[name] - value))
    for cls in DETECTION_CLASSES:
        for th in CFG.dist_ths:
            gaps.append(abs(ours.label_aps[cls][th] - metrics.get_label_ap(cls, th)))
        for name in ours.label_tp_errors[cls]:
            a, b = ours.label_tp_errors[cls][name], metrics.get_label_tp(cls, name)
            assert math.isnan(a) == math.isnan(b), (cls, name, a, b)
            if not math.isnan(a):
                gaps.append(abs(a - b))
    assert max(gaps) <= TOL, max(gaps)
    return max(gaps)


def make_box(token, cls, xyz, size, yaw, vel, score=-1.0, attr="", num_pts=-1) -> DetectionBox:
    q = Quaternion(axis=[0, 0, 1], angle=yaw)
    return DetectionBox(
        sample_token=token,
        translation=tuple(float(v) for v in xyz),
        size=tuple(float(v) for v in size),
        rotation=tuple(float(v) for v in q.elements),
        velocity=tuple(float(v) for v in vel),
        num_pts=num_pts,
        detection_name=cls,
        detection_score=float(score),
        attribute_name=attr,
    )


def random_world(rng: np.random.Generator, n_samples: int = 10, max_gt: int = 14):
    """Random GT: every class, some GT without attribute, some with nan velocity."""
    tokens = [f"s{i:03d}" for i in range(n_samples)]
    gt = EvalBoxes()
    for tok in tokens:
        boxes = []
        for _ in range(rng.integers(0, max_gt)):
            cls = DETECTION_CLASSES[rng.integers(len(DETECTION_CLASSES))]
            attrs = detection_name_to_rel_attributes(cls)
            attr = attrs[rng.integers(len(attrs))] if attrs and rng.random() > 0.15 else ""
            vel = (np.nan, np.nan) if rng.random() < 0.1 else rng.normal(0, 3, 2)
            boxes.append(
                make_box(
                    tok,
                    cls,
                    rng.uniform(-25, 25, 3),
                    rng.uniform(0.3, 5, 3),
                    rng.uniform(-np.pi, np.pi),
                    vel,
                    attr=attr,
                    num_pts=int(rng.integers(1, 50)),
                )
            )
        gt.add_boxes(tok, boxes)
    return tokens, gt


def predictions(rng, tokens, gt, *, jitter=0.5, keep=0.9, n_fp=4, n_dup=1, score_levels=None, drop_classes=()):
    """Jittered copies of GT (position/size/yaw/velocity/attribute), duplicates and false positives."""
    pred = EvalBoxes()
    for tok in tokens:
        boxes = []
        for b in gt[tok]:
            if b.detection_name in drop_classes or rng.random() > keep:
                continue
            for _ in range(1 + (rng.random() < 0.3) * n_dup):
                attrs = detection_name_to_rel_attributes(b.detection_name)
                vel = np.nan_to_num(np.array(b.velocity)) + rng.normal(0, jitter, 2)
                boxes.append(
                    make_box(
                        tok,
                        b.detection_name,
                        np.array(b.translation) + rng.normal(0, jitter, 3),
                        np.array(b.size) * np.exp(rng.normal(0, 0.2 * jitter, 3)),
                        Quaternion(b.rotation).yaw_pitch_roll[0] + rng.normal(0, jitter),
                        vel,
                        score=rng.random(),
                        attr=attrs[rng.integers(len(attrs))] if attrs else "",
                    )
                )
        for _ in range(rng.integers(0, n_fp + 1)):
            cls = DETECTION_CLASSES[rng.integers(len(DETECTION_CLASSES))]
            if cls in drop_classes:
                continue
            boxes.append(
                make_box(
                    tok,
                    cls,
                    rng.uniform(-25, 25, 3),
                    rng.uniform(0.3, 5, 3),
                    rng.uniform(-np.pi, np.pi),
                    rng.normal(0, 3, 2),
                    score=rng.random(),
                )
            )
        if score_levels:
            for b in boxes:
                b.detection_score = float(np.round(b.detection_score * score_levels) / score_levels)
        pred.add_boxes(tok, boxes)
    return pred


def devkit_on_file(nusc, path: Path, split: str, out: Path, gt_filter=None):
    ev = DetectionEval(
        nusc, config_factory("detection_cvpr_2019"), str(path), eval_set=split, output_dir=str(out), verbose=False
    )
    if gt_filter is not None:
        for boxes in (ev.gt_boxes, ev.pred_boxes):
            for tok in boxes.sample_tokens:
                boxes.boxes[tok] = [b for b in boxes[tok] if gt_filter(b.ego_dist)]
    return ev, ev.evaluate()[0]
