"""nuScenes detection metrics (NDS, mAP, TP errors), vectorised, equal to the devkit's.

:class:`DetectionEvaluator` reproduces ``nuscenes.eval.detection.evaluate.DetectionEval``
(config ``detection_cvpr_2019``) number for number, but loads and filters the GT once
(a sweep scores 25 conditions against the same GT) and replaces the devkit's per-box
Python loops by array code:

* **Filtering** (devkit ``filter_eval_boxes``): a box is kept when its xy distance to the
  ego pose of the sample's LIDAR_TOP key frame is ``< class_range[class]``, its
  ``num_pts`` (LiDAR + radar points for GT, ``-1`` for predictions unless the file says
  otherwise) is not 0, and, for bicycle/motorcycle, its centre is not inside a
  ``static_object.bicycle_rack`` annotation of the sample. Applied to GT and predictions.
* **Matching** (devkit ``accumulate``): per class and distance threshold, predictions are
  visited in descending score (ties: the later box in file order first, as the devkit's
  ``sorted(...)[::-1]``); each takes the nearest (xy centre distance; first in annotation
  order on ties) not yet taken GT of its sample and class, and is a TP when that distance
  is ``< threshold``. Matches in different (sample, class) groups are independent, so
  the greedy pass runs over all groups at once: step ``k`` handles the ``k``-th
  prediction of every group, restricted to predictions with a GT within the largest
  threshold (the others are false positives at every threshold).
* **AP / TP errors**: the devkit's 101-point interpolation, ``calc_ap`` (min recall and
  min precision 0.1) and ``calc_tp`` (errors between min recall and max recall, 1 when
  the class never reaches min recall), computed by the devkit's own vectorised
  ``calc_ap``/``calc_tp``/``cummean`` on curves built here. TP errors at ``dist_th_tp``
  (2 m): ATE = centre distance, ASE = 1 - IoU of the size-aligned boxes, AOE = yaw
  difference (period pi for barrier), AVE = velocity L2, AAE = 1 - attribute accuracy
  (undefined, i.e. ignored, when the GT has no attribute). Traffic cones have no
  AOE/AVE/AAE and barriers no AVE/AAE (nan, skipped in the means), as in the devkit.
  A class without GT (or without any match) scores AP 0 and TP errors 1.
* ``NDS = (5 mAP + sum_k (1 - min(1, mTP_k))) / 10``.
* **Bounded metrics**: the devkit's ``calc_ap`` divides by ``1 - min_precision`` and can
  return a perfect AP as ``1.0000000000000002``; every AP is clamped to ``[0, 1]`` when it
  lies within :data:`robobench.schema.FRACTION_TOLERANCE` of the interval (further out is a bug and raises).
  mAP and NDS are means of values in ``[0, 1]`` and so stay in it: a perfect submission
  scores exactly 1.

Breakdowns (TiGDistill-BEV Tables XI and XII): ``small_map`` is the mean of the
per-class AP (mean over thresholds) of pedestrian, motorcycle, bicycle, traffic_cone and
barrier. ``ranges`` (``"0-30"``, ``"30-60"``) re-run the whole evaluation after keeping
only the GT *and* the predictions whose ego xy distance ``d`` satisfies ``lo <= d < hi``
(on top of the class ranges); classes left without GT there score AP 0 / TP errors 1
exactly as the devkit scores a class without GT, and the means still run over all ten
classes (so 30-60 m cannot exceed 0.8 mAP: traffic cones and barriers are limited to
30 m by the class ranges).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.common.utils import cummean
from nuscenes.eval.detection.algo import calc_ap, calc_tp
from nuscenes.eval.detection.constants import TP_METRICS
from nuscenes.eval.detection.data_classes import (
    DetectionConfig,
    DetectionMetricData,
    DetectionMetricDataList,
    DetectionMetrics,
)
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import points_in_box
from pyquaternion import Quaternion

from robobench.constants import ATTRIBUTES, DETECTION_CLASSES, SMALL_CLASSES
from robobench.errors import UserError
from robobench.schema import clamp_fraction

#: TP errors the devkit leaves undefined (nan) for a class.
UNDEFINED_TP: dict[str, frozenset[str]] = {
    "traffic_cone": frozenset({"attr_err", "vel_err", "orient_err"}),
    "barrier": frozenset({"attr_err", "vel_err"}),
}
#: Ego-distance ranges of TiGDistill-BEV Table XII, metres, ``lo <= d < hi``.
DISTANCE_RANGES: dict[str, tuple[float, float]] = {"0-30": (0.0, 30.0), "30-60": (30.0, 60.0)}
#: Devkit TP metric name -> the results-row / summary name.
TP_SUMMARY_NAMES: dict[str, str] = {
    "trans_err": "mate",
    "scale_err": "mase",
    "orient_err": "maoe",
    "vel_err": "mave",
    "attr_err": "maae",
}
_BIKE_CLASSES = ("bicycle", "motorcycle")
_BIKE_RACK = "static_object.bicycle_rack"
_ATTR_INDEX = {name: i for i, name in enumerate(ATTRIBUTES)}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PAIR_CHUNK = 4_000_000  # candidate (prediction, GT) pairs examined per block
#: Largest ``| |q| - 1 |`` accepted for a results box's rotation quaternion: enough for
#: quaternions written with three decimals, far below any non-quaternion (a yaw, a scaled q).
QUATERNION_NORM_TOLERANCE = 1e-2
#: Seed of the scene-bootstrap draws: one fixed seed, so every row's replicates pair up.
BOOTSTRAP_SEED = 0


def quaternion_yaws(q: np.ndarray) -> np.ndarray:
    """Yaw (rad) of ``(N, 4)`` w-x-y-z quaternions: the heading of the rotated +x axis.

    Same angle as the devkit's ``quaternion_yaw`` (``arctan2`` of the first column of the
    rotation matrix); the formula is scale-free, so unnormalised quaternions are fine.
    """
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.arctan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


@dataclass
class BoxArrays:
    """Boxes of one set (GT or predictions) as flat arrays, in the devkit's iteration order.

    ``sample`` indexes the evaluator's sample tokens, ``label`` the config's class names,
    ``attr`` :data:`robobench.constants.ATTRIBUTES` (-1: none). Coordinates are global.
    """

    sample: np.ndarray
    label: np.ndarray
    xyz: np.ndarray
    size: np.ndarray
    yaw: np.ndarray
    vel: np.ndarray
    score: np.ndarray
    attr: np.ndarray
    num_pts: np.ndarray

    def __len__(self) -> int:
        return len(self.sample)

    def subset(self, keep: np.ndarray) -> "BoxArrays":
        """The boxes where the boolean ``keep`` is true, order preserved."""
        return BoxArrays(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    @classmethod
    def from_lists(
        cls,
        sample: Sequence[int],
        label: Sequence[int],
        xyz: Sequence[Sequence[float]],
        size: Sequence[Sequence[float]],
        rotation: Sequence[Sequence[float]],
        vel: Sequence[Sequence[float]],
        score: Sequence[float],
        attr: Sequence[int],
        num_pts: Sequence[int],
    ) -> "BoxArrays":
        """Build from per-box Python lists (rotation as w-x-y-z quaternions)."""
        rot = np.asarray(rotation, dtype=np.float64).reshape(-1, 4)
        return cls(
            sample=np.asarray(sample, dtype=np.int64),
            label=np.asarray(label, dtype=np.int64),
            xyz=np.asarray(xyz, dtype=np.float64).reshape(-1, 3),
            size=np.asarray(size, dtype=np.float64).reshape(-1, 3),
            yaw=quaternion_yaws(rot),
            vel=np.asarray(vel, dtype=np.float64).reshape(-1, 2),
            score=np.asarray(score, dtype=np.float64),
            attr=np.asarray(attr, dtype=np.int64),
            num_pts=np.asarray(num_pts, dtype=np.int64),
        )

    @classmethod
    def from_eval_boxes(cls, boxes: Any, sample_tokens: Sequence[str], class_names: Sequence[str]) -> "BoxArrays":
        """Convert devkit ``EvalBoxes`` of ``DetectionBox`` (used to check against the devkit)."""
        index = {t: i for i, t in enumerate(sample_tokens)}
        cls_index = {c: i for i, c in enumerate(class_names)}
        flat = boxes.all
        return cls.from_lists(
            [index[b.sample_token] for b in flat],
            [cls_index[b.detection_name] for b in flat],
            [b.translation for b in flat],
            [b.size for b in flat],
            [b.rotation for b in flat],
            [b.velocity for b in flat],
            [b.detection_score for b in flat],
            [_ATTR_INDEX.get(b.attribute_name, -1) for b in flat],
            [b.num_pts for b in flat],
        )


@dataclass
class DetectionResult:
    """Every number of one evaluation (fractions; TP errors in metres, m/s, rad or 1-x).

    ``label_aps[class][dist_th]``, ``label_tp_errors[class][tp_metric]`` (nan where the
    devkit leaves it undefined), ``tp_errors[tp_metric]`` (class means),
    ``mean_dist_aps[class]``; ``small_map`` and ``ranges`` are the breakdowns described in
    the module docstring (``ranges`` is empty when breakdowns were not asked for).
    ``metrics`` is the devkit's own ``DetectionMetrics`` these numbers were read from and
    ``details`` its ``DetectionMetricDataList`` (the curves of every class and threshold,
    only when asked for): serialised, they are the devkit's ``metrics_summary.json`` and
    ``metrics_details.json``. ``bootstrap`` holds the scene-bootstrap replicates of
    :meth:`DetectionEvaluator.bootstrap` (empty when not asked for).
    """

    nds: float
    map: float
    mate: float
    mase: float
    maoe: float
    mave: float
    maae: float
    label_aps: dict[str, dict[float, float]]
    label_tp_errors: dict[str, dict[str, float]]
    tp_errors: dict[str, float]
    mean_dist_aps: dict[str, float]
    small_map: float
    ranges: dict[str, "DetectionResult"] = field(default_factory=dict)
    metrics: DetectionMetrics | None = field(default=None, repr=False, compare=False)
    details: DetectionMetricDataList | None = field(default=None, repr=False, compare=False)
    bootstrap: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, metrics: DetectionMetrics) -> "DetectionResult":
        """Summarise a filled devkit ``DetectionMetrics`` (its own aggregation is used)."""
        tp = metrics.tp_errors
        mean_aps = {c: float(v) for c, v in metrics.mean_dist_aps.items()}
        return cls(
            nds=float(metrics.nd_score),
            map=float(metrics.mean_ap),
            **{short: float(tp[name]) for name, short in TP_SUMMARY_NAMES.items()},
            label_aps={c: {th: metrics.get_label_ap(c, th) for th in metrics.cfg.dist_ths} for c in mean_aps},
            label_tp_errors={c: {m: metrics.get_label_tp(c, m) for m in TP_METRICS} for c in mean_aps},
            tp_errors=dict(tp),
            mean_dist_aps=mean_aps,
            small_map=float(np.mean([mean_aps[c] for c in SMALL_CLASSES if c in mean_aps])),
            metrics=metrics,
        )

    def summary(self) -> dict[str, float]:
        """The seven headline numbers: nds, map, mate, mase, maoe, mave, maae."""
        return {k: getattr(self, k) for k in ("nds", "map", *TP_SUMMARY_NAMES.values())}

    def row_fields(self) -> dict[str, Any]:
        """The :class:`robobench.schema.ResultRow` metric fields (undefined errors -> None)."""
        per_class = {}
        for name, aps in self.label_aps.items():
            entry: dict[str, Any] = {
                "ap": {str(float(th)): ap for th, ap in aps.items()},
                "ap_mean": self.mean_dist_aps[name],
            }
            entry.update({m: _none_if_nan(v) for m, v in self.label_tp_errors[name].items()})
            per_class[name] = entry
        breakdown: dict[str, Any] = {"small_map": self.small_map}
        for key, res in self.ranges.items():
            breakdown["range_" + key.replace("-", "_")] = {"nds": res.nds, "map": res.map}
        return {**self.summary(), "per_class": per_class, "breakdown": breakdown, "bootstrap": self.bootstrap}


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def split_sample_tokens(nusc: Any, split: str) -> list[str]:
    """Sample tokens of a split in the devkit's order (``nusc.sample`` order).

    The split is resolved by :func:`robobench.data.nusc.split_sample_tokens` (predefined
    names or ``splits.json``; unknown or empty splits are a :class:`UserError`); a
    predefined split must also fit the version, as the devkit's ``load_gt`` asserts.
    """
    from nuscenes.utils.splits import is_predefined_split

    from robobench.data.nusc import split_sample_tokens as tokens_of_split

    if is_predefined_split(split):
        suffix = {"mini_train": "mini", "mini_val": "mini", "test": "test"}.get(split, "trainval")
        if not nusc.version.endswith(suffix):
            raise UserError(f"split {split!r} belongs to nuScenes v1.0-{suffix}, not to version {nusc.version!r}")
    wanted = set(tokens_of_split(nusc, split))
    return [s["token"] for s in nusc.sample if s["token"] in wanted]


class DetectionEvaluator:
    """Evaluates nuScenes results against the GT of one split; the GT is prepared once.

    ``DetectionEvaluator(nusc, "synth_val").evaluate("results.json")`` gives the numbers
    of ``DetectionEval(nusc, config_factory("detection_cvpr_2019"), "results.json",
    eval_set="synth_val")``. ``config`` is a devkit ``DetectionConfig`` (default
    ``detection_cvpr_2019``).
    """

    def __init__(self, nusc: Any, split: str, config: DetectionConfig | None = None) -> None:
        self.nusc = nusc
        self.split = split
        self.cfg = config if config is not None else config_factory("detection_cvpr_2019")
        self.class_names: list[str] = list(self.cfg.class_names)
        self.sample_tokens = split_sample_tokens(nusc, split)
        if not self.sample_tokens:
            raise UserError(f"split {split!r} of {nusc.version} has no samples")
        from nuscenes.utils.splits import is_predefined_split

        #: Predefined splits: the devkit keeps the results file's sample order; custom: the split's.
        self.keep_file_order = is_predefined_split(split)
        self.sample_index = {t: i for i, t in enumerate(self.sample_tokens)}
        scenes = [nusc.get("sample", t)["scene_token"] for t in self.sample_tokens]
        #: scene tokens of the split (first-appearance order) and each sample's index into them
        self.scene_names: list[str] = list(dict.fromkeys(scenes))
        self.sample_scene = np.array([self.scene_names.index(s) for s in scenes], dtype=np.int64)
        self.ego_xyz = np.array([self._ego_translation(t) for t in self.sample_tokens], dtype=np.float64)
        self.bike_racks = self._bike_racks()
        self.class_range = np.array([self.cfg.class_range[c] for c in self.class_names], dtype=np.float64)
        self.gt = self.filter(self._load_gt())

    # -- GT --------------------------------------------------------------------------
    def _ego_translation(self, sample_token: str) -> list[float]:
        sample = self.nusc.get("sample", sample_token)
        sd = self.nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
        return self.nusc.get("ego_pose", sd["ego_pose_token"])["translation"]

    def _bike_racks(self) -> dict[int, list[Box]]:
        racks: dict[int, list[Box]] = {}
        for i, token in enumerate(self.sample_tokens):
            recs = [self.nusc.get("sample_annotation", a) for a in self.nusc.get("sample", token)["anns"]]
            boxes = [
                Box(r["translation"], r["size"], Quaternion(r["rotation"]))
                for r in recs
                if r["category_name"] == _BIKE_RACK
            ]
            if boxes:
                racks[i] = boxes
        return racks

    def _load_gt(self) -> BoxArrays:
        """GT boxes as the devkit's ``load_gt`` builds them (before filtering)."""
        attr_names = {a["token"]: a["name"] for a in self.nusc.attribute}
        cls_index = {c: i for i, c in enumerate(self.class_names)}
        cols: dict[str, list] = {k: [] for k in ("sample", "label", "xyz", "size", "rot", "vel", "attr", "pts")}
        for i, token in enumerate(self.sample_tokens):
            for ann_token in self.nusc.get("sample", token)["anns"]:
                ann = self.nusc.get("sample_annotation", ann_token)
                name = category_to_detection_name(ann["category_name"])
                if name is None or name not in cls_index:
                    continue
                if len(ann["attribute_tokens"]) > 1:
                    raise UserError(f"annotation {ann_token} has more than one attribute; the devkit forbids that")
                attr = attr_names[ann["attribute_tokens"][0]] if ann["attribute_tokens"] else ""
                cols["sample"].append(i)
                cols["label"].append(cls_index[name])
                cols["xyz"].append(ann["translation"])
                cols["size"].append(ann["size"])
                cols["rot"].append(ann["rotation"])
                cols["vel"].append(self.nusc.box_velocity(ann_token)[:2])
                cols["attr"].append(_ATTR_INDEX.get(attr, -1))
                cols["pts"].append(ann["num_lidar_pts"] + ann["num_radar_pts"])
        return BoxArrays.from_lists(
            cols["sample"],
            cols["label"],
            cols["xyz"],
            cols["size"],
            cols["rot"],
            cols["vel"],
            [-1.0] * len(cols["sample"]),
            cols["attr"],
            cols["pts"],
        )

    # -- filtering -------------------------------------------------------------------
    def ego_dist(self, boxes: BoxArrays) -> np.ndarray:
        """xy distance of each box centre to its sample's ego pose (devkit ``ego_dist``)."""
        d = boxes.xyz - self.ego_xyz[boxes.sample]
        return np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)

    def filter(self, boxes: BoxArrays) -> BoxArrays:
        """The devkit's ``filter_eval_boxes``: class range, zero points, bike racks."""
        keep = (self.ego_dist(boxes) < self.class_range[boxes.label]) & (boxes.num_pts != 0)
        bike_labels = [self.class_names.index(c) for c in _BIKE_CLASSES if c in self.class_names]
        is_bike = keep & np.isin(boxes.label, bike_labels)
        for sample, racks in self.bike_racks.items():
            idx = np.nonzero(is_bike & (boxes.sample == sample))[0]
            if len(idx):
                centres = boxes.xyz[idx].T
                inside = np.zeros(len(idx), dtype=bool)
                for rack in racks:
                    inside |= points_in_box(rack, centres)
                keep[idx[inside]] = False
        return boxes.subset(keep)

    # -- evaluation ------------------------------------------------------------------
    def load_predictions(self, results: Mapping[str, Any] | str | Path) -> BoxArrays:
        """Validate a results file or dict and return its boxes (unfiltered, devkit order)."""
        load = load_results_file if isinstance(results, (str, Path)) else parse_results
        return load(
            results,
            self.sample_tokens,
            self.class_names,
            max_boxes_per_sample=self.cfg.max_boxes_per_sample,
            keep_file_order=self.keep_file_order,
        )

    def evaluate(
        self,
        results: Mapping[str, Any] | str | Path,
        breakdowns: bool = True,
        details: bool = False,
        bootstrap: int = 0,
    ) -> DetectionResult:
        """Score one results JSON (path or loaded dict); ``breakdowns`` adds the distance ranges,
        ``details`` the devkit's curves (:attr:`DetectionResult.details`), ``bootstrap`` the
        scene-bootstrap replicates (:meth:`evaluate_boxes`)."""
        return self.evaluate_boxes(
            self.load_predictions(results), breakdowns=breakdowns, details=details, bootstrap=bootstrap
        )

    def bootstrap(
        self, pred: BoxArrays, order: np.ndarray, match: np.ndarray, replicates: int, seed: int = BOOTSTRAP_SEED
    ) -> dict[str, Any]:
        """NDS and mAP of ``replicates`` copies of the split with its scenes resampled with replacement.

        ``pred`` are the filtered predictions, ``order`` and ``match`` their score order and
        :func:`greedy_match` result. Replicate ``b`` draws the scenes of
        :func:`robobench.stats.scene_draws` ``(n_scenes, replicates, seed)``, the same for
        every results file scored on this split, so replicates of different conditions and
        models pair up. Replicate ``b`` is :func:`score_matches` with each sample weighted by its
        scene's draw count; :func:`robobench.metrics.bootstrap.bootstrap_scores` scores all
        replicates at once with the same numbers. Returns ``{"unit": "scene", "seed", "scenes",
        "nds": [...], "map": [...]}``.
        """
        from robobench.metrics.bootstrap import bootstrap_scores
        from robobench.stats import scene_draws

        draws = scene_draws(len(self.scene_names), replicates, seed)
        weights = draws[:, self.sample_scene]
        nds, map_ = bootstrap_scores(self.gt, pred, self.cfg, self.class_names, order, match, weights)
        return {
            "unit": "scene",
            "seed": seed,
            "scenes": len(self.scene_names),
            "nds": [round(v, 6) for v in nds],
            "map": [round(v, 6) for v in map_],
        }

    def evaluate_boxes(
        self, boxes: BoxArrays, breakdowns: bool = True, details: bool = False, bootstrap: int = 0
    ) -> DetectionResult:
        """Score predictions already parsed by :meth:`load_predictions` (filtering happens here).

        ``details`` keeps the devkit's curves (:func:`evaluate_arrays`); ``bootstrap`` > 0 also fills
        ``result.bootstrap`` with that many scene-bootstrap replicates of NDS and mAP (:meth:`bootstrap`).
        """
        pred = self.filter(boxes)
        order, match = match_arrays(self.gt, pred, self.cfg)
        result = score_matches(self.gt, pred, self.cfg, self.class_names, order, match, details=details)
        if bootstrap:
            result.bootstrap = self.bootstrap(pred, order, match, bootstrap)
        if breakdowns:
            gt_dist, pred_dist = self.ego_dist(self.gt), self.ego_dist(pred)
            for key, (lo, hi) in DISTANCE_RANGES.items():
                result.ranges[key] = evaluate_arrays(
                    self.gt.subset((gt_dist >= lo) & (gt_dist < hi)),
                    pred.subset((pred_dist >= lo) & (pred_dist < hi)),
                    self.cfg,
                    self.class_names,
                )
        return result


def evaluate_arrays(
    gt: BoxArrays,
    pred: BoxArrays,
    cfg: DetectionConfig,
    class_names: Sequence[str] | None = None,
    details: bool = False,
) -> DetectionResult:
    """Detection metrics of already-filtered boxes (the devkit's ``DetectionEval.evaluate``).

    With ``details`` the TP-error curves are computed at every distance threshold, as the
    devkit's ``accumulate`` does, and kept in :attr:`DetectionResult.details`; without,
    only at ``dist_th_tp``, the one the metrics read.
    """
    return score_matches(gt, pred, cfg, class_names, *match_arrays(gt, pred, cfg), details=details)


def match_arrays(gt: BoxArrays, pred: BoxArrays, cfg: DetectionConfig) -> tuple[np.ndarray, np.ndarray]:
    """The visiting order (descending score, ties: later box first) and :func:`greedy_match` at every threshold."""
    order = np.lexsort((np.arange(len(pred)), pred.score))[::-1]
    return order, greedy_match(gt, pred, order, np.asarray(cfg.dist_ths, dtype=np.float64))


def score_matches(
    gt: BoxArrays,
    pred: BoxArrays,
    cfg: DetectionConfig,
    class_names: Sequence[str] | None,
    order: np.ndarray,
    match: np.ndarray,
    sample_weight: np.ndarray | None = None,
    details: bool = False,
) -> DetectionResult:
    """AP and TP errors from :func:`greedy_match`'s result (``order`` is its visiting order).

    ``sample_weight`` (an integer per sample, default 1) scores the set in which sample
    ``i`` appears ``sample_weight[i]`` times: matching never crosses samples, so a copied
    sample's matches are copies, and its boxes are repeated in place in the score order
    (equal to scoring the copied set up to the order of exactly tied scores). The scene
    bootstrap (:meth:`DetectionEvaluator.bootstrap`) scores its resampled sets this way
    without matching again.
    """
    names = list(cfg.class_names) if class_names is None else list(class_names)
    metrics = DetectionMetrics(cfg)
    curves = DetectionMetricDataList()
    tp_index = list(cfg.dist_ths).index(cfg.dist_th_tp)
    for c, name in enumerate(names):
        is_c = gt.label == c
        npos = int(np.count_nonzero(is_c) if sample_weight is None else sample_weight[gt.sample[is_c]].sum())
        cls_order = order[pred.label[order] == c]
        if sample_weight is not None:
            cls_order = np.repeat(cls_order, sample_weight[pred.sample[cls_order]])
        data = [
            _metric_data(gt, pred, cls_order, match[t, cls_order], npos, name, with_errors=details or t == tp_index)
            for t in range(len(cfg.dist_ths))
        ]
        for t, th in enumerate(cfg.dist_ths):
            ap = calc_ap(data[t], cfg.min_recall, cfg.min_precision)
            metrics.add_label_ap(name, th, clamp_fraction(ap, f"AP of {name} at {th} m"))
            curves.set(name, th, data[t])
        for metric in TP_METRICS:
            undefined = metric in UNDEFINED_TP.get(name, ())
            value = np.nan if undefined else calc_tp(data[tp_index], cfg.min_recall, metric)
            metrics.add_label_tp(name, metric, value)
    result = DetectionResult.from_metrics(metrics)
    result.details = curves if details else None
    return result


def greedy_match(gt: BoxArrays, pred: BoxArrays, order: np.ndarray, dist_ths: np.ndarray) -> np.ndarray:
    """Index of the GT each prediction matches at each threshold, ``(T, N_pred)``, -1 for none.

    ``order`` is the visiting order (descending score). See the module docstring: the candidate
    pairs within the largest threshold, one padded row of candidates per prediction, then steps
    ``k`` = 0, 1, ... in which the ``k``-th prediction of every (class, sample) group takes its
    nearest free GT at every threshold at once.
    """
    match = np.full((len(dist_ths), len(pred)), -1, dtype=np.int64)
    if len(gt) == 0 or len(pred) == 0:
        return match
    gt_group, pred_group = _group_keys(gt, pred, order)
    position, gt_index, dist = _candidate_pairs(gt, pred, order, gt_group, pred_group, float(dist_ths.max()))
    if len(position) == 0:
        return match
    rows, row_gt, row_dist = _candidate_rows(position, gt_index, dist, len(gt))
    pred_of_row = order[rows]
    taken = np.zeros((len(dist_ths), len(gt) + 1), dtype=bool)  # per threshold; the last column is the dummy GT
    for step in _steps_by_rank(pred_group[rows]):
        step_gt, step_dist = row_gt[step], row_dist[step]
        free_dist = np.where(taken[:, step_gt], np.inf, step_dist[None])  # (T, rows of the step, width)
        nearest = free_dist.argmin(axis=2)
        best = np.take_along_axis(free_dist, nearest[..., None], axis=2)[..., 0]
        chosen = step_gt[np.arange(len(step))[None, :], nearest]
        threshold, row = np.nonzero(best < dist_ths[:, None])
        taken[threshold, chosen[threshold, row]] = True
        match[threshold, pred_of_row[step][row]] = chosen[threshold, row]
    return match


def _group_keys(gt: BoxArrays, pred: BoxArrays, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (class, sample) group key of every GT box, and of every prediction in visiting ``order``."""
    n_samples = int(max(gt.sample.max(), pred.sample.max())) + 1
    return gt.label * n_samples + gt.sample, pred.label[order] * n_samples + pred.sample[order]


def _candidate_pairs(
    gt: BoxArrays, pred: BoxArrays, order: np.ndarray, gt_group: np.ndarray, pred_group: np.ndarray, max_dist: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (visiting position, GT index, xy distance) of a prediction and a GT of its group closer than
    ``max_dist``, in visiting order and, per prediction, in annotation order.

    The pairs are formed in blocks of about :data:`_PAIR_CHUNK`, which bounds the memory they take.
    """
    gt_by_group = np.argsort(gt_group, kind="stable")  # annotation order kept inside a group
    sorted_groups = gt_group[gt_by_group]
    first = np.searchsorted(sorted_groups, pred_group, "left")  # per prediction: its group's GT in gt_by_group
    count = np.searchsorted(sorted_groups, pred_group, "right") - first
    pairs_before = np.cumsum(count)
    positions, gt_indices, distances = [], [], []
    lo = 0
    while lo < len(order):
        hi = int(np.searchsorted(pairs_before, (pairs_before[lo - 1] if lo else 0) + _PAIR_CHUNK, "right"))
        hi = max(hi, lo + 1)
        n_pairs = count[lo:hi]
        position = np.repeat(np.arange(lo, hi), n_pairs)
        within = np.arange(len(position)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
        gt_index = gt_by_group[np.repeat(first[lo:hi], n_pairs) + within]
        diff = pred.xyz[order[position], :2] - gt.xyz[gt_index, :2]
        dist = np.sqrt(diff[:, 0] ** 2 + diff[:, 1] ** 2)
        near = dist < max_dist
        positions.append(position[near])
        gt_indices.append(gt_index[near])
        distances.append(dist[near])
        lo = hi
    return np.concatenate(positions), np.concatenate(gt_indices), np.concatenate(distances)


def _candidate_rows(
    position: np.ndarray, gt_index: np.ndarray, dist: np.ndarray, n_gt: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs as one row per prediction that has any: the rows' visiting positions, and
    their GT indices and distances ``(rows, width)``, padded with a never-taken dummy GT ``n_gt`` at
    distance inf."""
    rows, row_start, row_len = np.unique(position, return_index=True, return_counts=True)
    column = np.arange(len(position)) - np.repeat(row_start, row_len)
    row_of_pair = np.repeat(np.arange(len(rows)), row_len)
    row_gt = np.full((len(rows), int(row_len.max())), n_gt, dtype=np.int64)
    row_dist = np.full(row_gt.shape, np.inf)
    row_gt[row_of_pair, column] = gt_index
    row_dist[row_of_pair, column] = dist
    return rows, row_gt, row_dist


def _steps_by_rank(groups: np.ndarray) -> list[np.ndarray]:
    """The rows (given in visiting order, with their group keys ``groups``) by their rank inside their
    group: step ``k`` holds the ``k``-th row of every group, rows that never compete for a GT."""
    by_group = np.argsort(groups, kind="stable")
    sorted_groups = groups[by_group]
    rank = np.empty(len(groups), dtype=np.int64)
    rank[by_group] = np.arange(len(groups)) - np.searchsorted(sorted_groups, sorted_groups, "left")
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2), "left")
    return [by_rank[bounds[k] : bounds[k + 1]] for k in range(len(bounds) - 1)]


def _metric_data(
    gt: BoxArrays,
    pred: BoxArrays,
    cls_order: np.ndarray,
    match: np.ndarray,
    npos: int,
    class_name: str,
    with_errors: bool = True,
) -> DetectionMetricData:
    """The devkit's ``accumulate`` curves for one class and threshold from match results.

    Without ``with_errors`` the TP-error curves are left at 1: only the precision curve
    is read at thresholds other than ``dist_th_tp`` (AP), so they are not computed there.
    """
    is_tp = match >= 0
    if npos == 0 or not is_tp.any():
        return DetectionMetricData.no_predictions()
    tp = np.cumsum(is_tp.astype(np.int64)).astype(float)
    fp = np.cumsum((~is_tp).astype(np.int64)).astype(float)
    conf = pred.score[cls_order]
    rec_interp = np.linspace(0, 1, DetectionMetricData.nelem)
    precision = np.interp(rec_interp, tp / float(npos), tp / (fp + tp), right=0)
    confidence = np.interp(rec_interp, tp / float(npos), conf, right=0)

    curves = {name: np.ones(DetectionMetricData.nelem) for name in TP_METRICS}
    if with_errors:
        p, g = cls_order[is_tp], match[is_tp]
        match_conf = conf[is_tp]
        errors = tp_errors_of_pairs(gt, pred, g, p, period=np.pi if class_name == "barrier" else 2 * np.pi)
        for name, values in errors.items():
            tmp = cummean(values)
            curves[name] = np.interp(confidence[::-1], match_conf[::-1], tmp[::-1])[::-1]
    return DetectionMetricData(recall=rec_interp, precision=precision, confidence=confidence, **curves)


def tp_errors_of_pairs(
    gt: BoxArrays, pred: BoxArrays, g: np.ndarray, p: np.ndarray, period: float = 2 * np.pi
) -> dict[str, np.ndarray]:
    """Per matched pair: translation, velocity, scale (1 - aligned IoU), yaw, attribute errors.

    Same formulas as the devkit's ``center_distance``, ``velocity_l2``, ``scale_iou``,
    ``yaw_diff`` (with ``period``) and ``attr_acc`` (nan when the GT has no attribute).
    """
    d = pred.xyz[p, :2] - gt.xyz[g, :2]
    dv = pred.vel[p] - gt.vel[g]
    sa, sr = gt.size[g], pred.size[p]
    inter = np.prod(np.minimum(sa, sr), axis=1)
    iou = inter / (np.prod(sa, axis=1) + np.prod(sr, axis=1) - inter)
    diff = (gt.yaw[g] - pred.yaw[p] + period / 2) % period - period / 2
    diff = np.where(diff > np.pi, diff - 2 * np.pi, diff)
    gt_attr = gt.attr[g]
    attr_err = np.where(gt_attr < 0, np.nan, 1.0 - (gt_attr == pred.attr[p]).astype(float))
    return {
        "trans_err": np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2),
        "vel_err": np.sqrt(dv[:, 0] ** 2 + dv[:, 1] ** 2),
        "scale_err": 1.0 - iou,
        "orient_err": np.abs(diff),
        "attr_err": attr_err,
    }


# -- results files ---------------------------------------------------------------------
class _ResultBox(msgspec.Struct):
    """One box of a nuScenes results file, as the devkit's ``DetectionBox.deserialize`` reads it."""

    sample_token: str
    translation: tuple[float, float, float]
    size: tuple[float, float, float]
    rotation: tuple[float, float, float, float]
    velocity: tuple[float, float]
    detection_name: str
    detection_score: float
    attribute_name: str
    num_pts: int = -1
    ego_translation: tuple[float, float, float] | None = None


#: Fields of a results box that may be left out (the devkit's defaults: -1 points, no ego translation).
_OPTIONAL_FIELDS: dict[str, Any] = {"num_pts": -1, "ego_translation": None}


class _ResultsFile(msgspec.Struct):
    results: dict[str, list[_ResultBox]]
    meta: dict[str, Any]


_DECODER = msgspec.json.Decoder(_ResultsFile)
_VECTORS = (("translation", 3), ("size", 3), ("rotation", 4), ("velocity", 2))


class _Malformed(Exception):
    """A box field has the wrong type or length (located by the per-box checks)."""


def read_results_json(path: str | Path) -> dict[str, Any]:
    """Read a nuScenes results JSON; unreadable or non-JSON files raise :class:`UserError`."""
    path = Path(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"results file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"results file {path} is not readable JSON: {exc}") from None
    return data


def load_results_file(
    path: str | Path,
    sample_tokens: Sequence[str],
    class_names: Sequence[str] = DETECTION_CLASSES,
    max_boxes_per_sample: int = 500,
    keep_file_order: bool = False,
) -> BoxArrays:
    """Read, validate and convert a results file (same checks as :func:`parse_results`).

    The file is decoded straight into typed records (msgspec), faster than ``json.load`` and
    without building Python dicts per box; when that fails the file is re-read with ``json`` so the error names
    the sample, box and field.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"results file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"results file {path} is not readable: {exc}") from None
    try:
        typed = _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        parse_results(read_results_json(path), sample_tokens, class_names, max_boxes_per_sample, keep_file_order)
        raise UserError(f"results file {path}: {exc}") from None
    order = _check_layout(
        {"results": typed.results, "meta": typed.meta}, sample_tokens, max_boxes_per_sample, keep_file_order
    )
    fields = _ResultBox.__struct_fields__
    rows = [msgspec.structs.astuple(b) for t in order for b in typed.results[t]]
    columns = dict(zip(fields, map(list, zip(*rows)))) if rows else {key: [] for key in fields}
    return _to_arrays(columns, typed.results, order, sample_tokens, class_names)


def parse_results(
    data: Any,
    sample_tokens: Sequence[str],
    class_names: Sequence[str] = DETECTION_CLASSES,
    max_boxes_per_sample: int = 500,
    keep_file_order: bool = False,
) -> BoxArrays:
    """Validate a loaded nuScenes results dict against a split and convert it to arrays.

    These are the rules of the devkit's ``DetectionBox`` and ``load_prediction``, and of the
    nuScenes submission format, checked up front so that a bad file is one message and
    never an assertion deep in the devkit. Checks (each failure is a :class:`UserError`
    naming the sample, box and field): ``results`` and ``meta`` present, ``results`` maps
    exactly the split's sample tokens to lists, at most ``max_boxes_per_sample`` boxes per
    sample, each box's ``sample_token`` equals its key,
    ``translation``/``size``/``rotation``/``velocity`` (and ``ego_translation`` when
    given) have 3/3/4/2 (3) finite numbers, sizes are positive, the rotation is a unit
    quaternion within :data:`QUATERNION_NORM_TOLERANCE`, ``detection_name`` is one of
    ``class_names``, ``detection_score`` is a number in ``[0, 1]`` (an integer 0 or 1
    included, as the devkit's ``float()`` reads it), ``attribute_name`` is a nuScenes
    attribute or ``""`` and ``num_pts`` (optional) an integer. The same rule decides
    whichever way the file is read. Samples are visited in file order when
    ``keep_file_order`` (the devkit does so for predefined splits), else in split order;
    that order breaks score ties exactly as the devkit does.
    """
    order = _check_layout(data, sample_tokens, max_boxes_per_sample, keep_file_order)
    results = data["results"]
    try:
        boxes = [b for t in order for b in results[t]]
        columns = {
            key: [b.get(key, _OPTIONAL_FIELDS[key]) if key in _OPTIONAL_FIELDS else b[key] for b in boxes]
            for key in _ResultBox.__struct_fields__
        }
        vectors = (v for key, _ in _VECTORS for vec in columns[key] if isinstance(vec, (list, tuple)) for v in vec)
        if (
            any(type(v) is bool for v in columns["detection_score"])
            or any(type(v) is bool for v in vectors)
            or not all(type(v) is int for v in columns["num_pts"])
        ):
            raise _Malformed  # booleans are not numbers here, as in the typed reader
        return _to_arrays(columns, results, order, sample_tokens, class_names)
    except (KeyError, TypeError, AttributeError, _Malformed):
        for token in order:
            for n, box in enumerate(results[token]):
                _check_box(box, token, f"sample {token!r} box {n}", class_names)
        raise UserError("results JSON: malformed boxes; check the field types against the nuScenes results format")


def _check_layout(
    data: Any, sample_tokens: Sequence[str], max_boxes_per_sample: int, keep_file_order: bool
) -> list[str]:
    """Check the top level and the per-sample lists; return the sample visiting order."""
    if not isinstance(data, Mapping):
        raise UserError(f"results must be a JSON object with 'results' and 'meta', got {type(data).__name__}")
    for key in ("results", "meta"):
        if key not in data:
            raise UserError(f"results JSON has no {key!r} field; the nuScenes format needs 'results' and 'meta'")
    results = data["results"]
    if not isinstance(results, Mapping):
        raise UserError("results JSON: 'results' must map sample tokens to lists of boxes")
    if not isinstance(data["meta"], Mapping):
        raise UserError("results JSON: 'meta' must be an object (e.g. {\"use_camera\": true, ...})")
    split = set(sample_tokens)
    extra = [t for t in results if t not in split]
    if extra:
        raise UserError(f"results JSON: sample {extra[0]!r} is not in the split ({len(extra)} such samples)")
    missing = [t for t in sample_tokens if t not in results]
    if missing:
        raise UserError(
            f"results JSON: sample {missing[0]!r} of the split is missing ({len(missing)} missing); "
            "every sample needs an entry, an empty list when nothing is detected"
        )
    order = list(results) if keep_file_order else list(sample_tokens)
    for token in order:
        boxes = results[token]
        if not isinstance(boxes, list):
            raise UserError(f"results JSON: sample {token!r} must map to a list of boxes")
        if len(boxes) > max_boxes_per_sample:
            raise UserError(
                f"results JSON: sample {token!r} has {len(boxes)} boxes; at most {max_boxes_per_sample} are allowed "
                "(keep the highest-scoring ones)"
            )
    return order


def _to_arrays(
    columns: dict[str, list],
    results: Mapping[str, Sequence[Any]],
    order: list[str],
    sample_tokens: Sequence[str],
    class_names: Sequence[str],
) -> BoxArrays:
    """Columns of field values -> :class:`BoxArrays`, with the value checks done on arrays.

    Raises :class:`_Malformed` for wrong types/lengths, :class:`UserError` naming the
    first faulty box for bad values.
    """
    counts = [len(results[t]) for t in order]
    boxes = _BoxPositions(order, counts)
    n = len(boxes.keys)
    if n == 0:
        return BoxArrays.from_lists([], [], [], [], [], [], [], [], [])
    box_tokens = columns["sample_token"]
    boxes.fail(
        np.array([box_tokens[i] != order[k] for i, k in enumerate(boxes.keys)]),
        lambda i: f"field 'sample_token' is {box_tokens[i]!r}, expected {order[boxes.keys[i]]!r}",
    )
    labels, attrs = _checked_labels(columns, class_names, boxes)
    arrays = _checked_vectors(columns, n, boxes)
    score = _float_array(columns["detection_score"], (n,))
    boxes.fail(~((score >= 0.0) & (score <= 1.0)), lambda i: _score_message(score[i]))
    num_pts = columns["num_pts"]
    try:
        pts = np.array(num_pts, dtype=np.int64)
    except OverflowError:
        boxes.fail(
            np.array([not _INT64_MIN <= v <= _INT64_MAX for v in num_pts]),
            lambda i: f"field 'num_pts' is {num_pts[i]}; it must be an integer within 64 bits",
        )
        raise
    index = {t: i for i, t in enumerate(sample_tokens)}
    return BoxArrays(
        sample=np.array([index[t] for t in order], dtype=np.int64)[boxes.keys],
        label=labels.astype(np.int64),
        xyz=arrays["translation"],
        size=arrays["size"],
        yaw=quaternion_yaws(arrays["rotation"]),
        vel=arrays["velocity"],
        score=score,
        attr=attrs.astype(np.int64),
        num_pts=pts,
    )


class _BoxPositions:
    """Where each box of the flattened columns came from (its sample and its place in that sample's
    list), to name the first faulty box of a check."""

    def __init__(self, order: list[str], counts: list[int]) -> None:
        self.order, self.counts = order, counts
        self.keys = np.repeat(np.arange(len(order)), counts)  # box -> index of its sample in ``order``

    def fail(self, bad: np.ndarray, message: Any) -> None:
        """:class:`UserError` naming the first box where ``bad`` holds, with ``message`` (or ``message(box)``)."""
        if bad.any():
            i = int(np.argmax(bad))
            token = self.order[self.keys[i]]
            pos = i - sum(self.counts[: self.keys[i]])
            raise UserError(f"results JSON: sample {token!r} box {pos}: {message(i) if callable(message) else message}")


def _checked_labels(
    columns: dict[str, list], class_names: Sequence[str], boxes: _BoxPositions
) -> tuple[np.ndarray, np.ndarray]:
    """The class index (in ``class_names``) and attribute index (-1 for none) of every box;
    :class:`UserError` for an unknown name."""
    cls_index = {c: i for i, c in enumerate(class_names)}
    names = columns["detection_name"]
    labels = np.array([cls_index.get(v, -1) if isinstance(v, str) else -1 for v in names])
    boxes.fail(labels < 0, lambda i: f"unknown detection_name {names[i]!r}; expected one of {', '.join(class_names)}")
    attr_names = columns["attribute_name"]
    attrs = np.array([_ATTR_INDEX.get(v, -1 if v == "" else -2) if isinstance(v, str) else -2 for v in attr_names])
    boxes.fail(
        attrs < -1, lambda i: f"unknown attribute_name {attr_names[i]!r}; expected '' or one of {', '.join(ATTRIBUTES)}"
    )
    return labels, attrs


def _checked_vectors(columns: dict[str, list], n: int, boxes: _BoxPositions) -> dict[str, np.ndarray]:
    """The vector fields (:data:`_VECTORS`) of the ``n`` boxes as float arrays; :class:`UserError` for a
    non-finite value, a non-positive size, a rotation off the unit quaternion or a non-finite ego translation."""
    arrays = {}
    for key, width in _VECTORS:
        arr = _float_array(columns[key], (n, width))
        boxes.fail(~np.isfinite(arr).all(axis=1), lambda i, k=key: f"field {k!r} has a NaN or infinite value")
        arrays[key] = arr
    boxes.fail((arrays["size"] <= 0).any(axis=1), "field 'size' must be positive")
    norm = np.linalg.norm(arrays["rotation"], axis=1)
    boxes.fail(np.abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE, lambda i: _quaternion_message(norm[i]))
    ego = [v for v in columns["ego_translation"] if v is not None]
    if ego:
        given = np.array([v is not None for v in columns["ego_translation"]])
        bad = np.zeros(n, dtype=bool)
        bad[given] = ~np.isfinite(_float_array(ego, (len(ego), 3))).all(axis=1)
        boxes.fail(bad, "field 'ego_translation' has a NaN or infinite value")
    return arrays


def _float_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as a float64 array of ``shape``; :class:`_Malformed` for anything but numbers
    of that shape. Integers beyond 64 bits, which numpy keeps as objects, become floats (inf
    past float64), so that every reader applies the same finiteness rule to them."""
    try:
        arr = np.array(values)  # strings -> kind "U", None -> "O"
    except ValueError:  # ragged
        raise _Malformed from None
    if arr.shape != shape:
        raise _Malformed
    if arr.dtype.kind == "O":
        if not all(type(v) in (int, float) for v in arr.flat):
            raise _Malformed
        return np.array([_as_float(v) for v in arr.flat], dtype=np.float64).reshape(shape)
    if arr.dtype.kind not in "fi":
        raise _Malformed
    return arr.astype(np.float64)


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer past float64
        return math.inf if value > 0 else -math.inf


def _quaternion_message(norm: float) -> str:
    return (
        f"field 'rotation' must be a unit quaternion (w, x, y, z), its norm is {norm:.6g}; "
        f"normalise it (tolerance {QUATERNION_NORM_TOLERANCE:g})"
    )


def _score_message(score: Any) -> str:
    return f"field 'detection_score' is {score!r}; it must be a confidence in [0, 1] (apply a sigmoid to logits)"


def _finite_vector(box: Mapping[str, Any], key: str, length: int, where: str) -> list[float]:
    value = box.get(key)
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise UserError(f"{where}: field {key!r} must be a list of {length} numbers, got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise UserError(f"{where}: field {key!r} must hold numbers, got {value!r}")
    out = [_as_float(v) for v in value]
    if not all(math.isfinite(v) for v in out):
        raise UserError(f"{where}: field {key!r} has a NaN or infinite value: {value!r}")
    return out


def _check_box(box: Any, token: str, where: str, class_names: Sequence[str]) -> None:
    """Raise a :class:`UserError` naming the first problem of one results box."""
    if not isinstance(box, Mapping):
        raise UserError(f"{where}: must be an object")
    if box.get("sample_token") != token:
        raise UserError(f"{where}: field 'sample_token' is {box.get('sample_token')!r}, expected {token!r}")
    _finite_vector(box, "translation", 3, where)
    size = _finite_vector(box, "size", 3, where)
    if min(size) <= 0:
        raise UserError(f"{where}: field 'size' must be positive, got {size}")
    norm = math.sqrt(sum(v * v for v in _finite_vector(box, "rotation", 4, where)))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise UserError(f"{where}: {_quaternion_message(norm)}")
    _finite_vector(box, "velocity", 2, where)
    if box.get("ego_translation") is not None:
        _finite_vector(box, "ego_translation", 3, where)
    name = box.get("detection_name")
    if name not in class_names:
        raise UserError(f"{where}: unknown detection_name {name!r}; expected one of {', '.join(class_names)}")
    score = box.get("detection_score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise UserError(f"{where}: field 'detection_score' must be a number in [0, 1], got {score!r}")
    if not 0.0 <= score <= 1.0:
        raise UserError(f"{where}: {_score_message(score)}")
    attr = box.get("attribute_name", None)
    if not isinstance(attr, str) or (attr != "" and attr not in _ATTR_INDEX):
        raise UserError(f"{where}: unknown attribute_name {attr!r}; expected '' or one of {', '.join(ATTRIBUTES)}")
    pts = box.get("num_pts", -1)
    if type(pts) is not int or not _INT64_MIN <= pts <= _INT64_MAX:
        raise UserError(f"{where}: field 'num_pts' must be an integer within 64 bits, got {pts!r}")
