"""Made-up result rows for the leaderboard tests (test data only, not results of any model).

The numbers come from a small deterministic formula so that tests can predict
orderings (e.g. which entry has the highest mRR) without hard-coding them.
"""

from __future__ import annotations

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.conditions import Condition, all_conditions
from robobench.constants import DETECTION_CLASSES
from robobench.schema import ResultRow

XSS_NAME = "<script>alert(1)</script>"

#: name -> metadata, in the order a store would list them (the first student without a base is the default baseline).
ENTRIES_META: dict[str, dict[str, str | None]] = {
    "bevdet-tiny": {"role": "student", "base": None, "teacher": None, "paper": "BEVDet", "description": "LSS student"},
    "bevdepth-tiny": {
        "role": "student",
        "base": None,
        "teacher": None,
        "paper": "BEVDepth",
        "description": "depth-supervised",
    },
    "centerpoint-tiny": {
        "role": "teacher",
        "base": None,
        "teacher": None,
        "paper": "CenterPoint",
        "description": "LiDAR teacher",
    },
    "bevdet-tiny+rayd3d": {
        "role": "distill",
        "base": "bevdet-tiny",
        "teacher": "centerpoint-tiny",
        "paper": "RayD3D",
        "description": "ray distillation",
    },
    "bevdet-tiny+tig": {
        "role": "distill",
        "base": "bevdet-tiny",
        "teacher": "centerpoint-tiny",
        "paper": "TiGDistill-BEV",
        "description": "",
    },
    "bevdet-partial": {
        "role": "student",
        "base": None,
        "teacher": None,
        "paper": "",
        "description": "unfinished sweep",
    },
    XSS_NAME: {"role": "student", "base": None, "teacher": None, "paper": "<b>bold</b>", "description": "odd & <name>"},
}

#: (entry, train mode, seed) -> (clean NDS, robustness factor in (0, 1]); higher factor = more robust.
_SPECS: dict[tuple[str, str, int], tuple[float, float]] = {
    ("bevdet-tiny", "clean", 0): (0.30, 0.70),
    ("bevdepth-tiny", "clean", 0): (0.36, 0.78),
    ("centerpoint-tiny", "clean", 0): (0.55, 1.00),
    ("bevdet-tiny+rayd3d", "clean", 0): (0.33, 0.80),
    ("bevdet-tiny+rayd3d", "clean", 1): (0.35, 0.82),
    ("bevdet-tiny+tig", "clean", 0): (0.32, 0.74),
    ("bevdet-tiny+tig", "corrupted", 0): (0.31, 0.90),
    ("bevdet-partial", "clean", 0): (0.28, 0.72),
    (XSS_NAME, "clean", 0): (0.20, 0.60),
}

#: Conditions the partial entry never finished, and one cell that failed.
PARTIAL_MISSING = ("Fog:easy", "Fog:mid", "Fog:hard", "Snow:hard")
PARTIAL_FAILED = "MotionBlur:hard"


def _condition_nds(clean: float, factor: float, cond: Condition) -> float:
    if cond.is_clean:
        return clean
    ci = CORRUPTIONS.index(cond.corruption)
    li = LEVELS.index(cond.level)
    # harder corruption (by index) and harder level -> lower NDS; factor scales the drop
    drop = (1.0 - factor) * (0.6 + 0.1 * (ci % 4)) * (0.6 + 0.4 * li)
    return round(clean * max(0.05, 1.0 - drop), 4)


def make_row(entry: str, mode: str, seed: int, cond: Condition, clean: float, factor: float) -> ResultRow:
    """One made-up ok row with every field the leaderboard reads."""
    nds = _condition_nds(clean, factor, cond)
    m_ap = round(nds * 0.8, 4)
    per_class = {
        c: {
            "ap_mean": round(m_ap * (1.2 - 0.04 * i), 4),
            "ap": {t: round(m_ap * (0.6 + 0.2 * j), 4) for j, t in enumerate(("0.5", "1.0", "2.0", "4.0"))},
            "trans_err": 0.5 + 0.01 * i,
            "scale_err": 0.3,
            "orient_err": 0.6,
            "vel_err": 1.0,
            "attr_err": 0.3,
        }
        for i, c in enumerate(DETECTION_CLASSES)
    }
    return ResultRow(
        entry=entry,
        train_mode=mode,
        condition=str(cond),
        seed=seed,
        dataset_id="synth-tiny-0",
        config_hash="abc123",
        nds=nds,
        map=m_ap,
        mate=round(0.9 - nds, 4),
        mase=0.3,
        maoe=0.7,
        mave=1.1,
        maae=0.35,
        per_class=per_class,
        breakdown={
            "small_map": round(m_ap * 0.7, 4),
            "range_0_30": {"nds": nds * 1.1, "map": m_ap * 1.1},
            "range_30_60": {"nds": nds * 0.8, "map": m_ap * 0.7},
        },
        depth={}
        if entry == "centerpoint-tiny"
        else {
            "all": {"abs_rel": round(0.2 + (1 - nds), 4), "rmse": 4.0, "delta1": nds},
            "fg": {"abs_rel": round(0.15 + (1 - nds), 4), "rmse": 3.0, "delta1": nds},
        },
        wall_time=12.5,
        code_version="0.1.0+g1234567",
        created_at="2026-11-21T12:00:00+00:00",
    )


def fixture_rows() -> list[ResultRow]:
    """Rows of every entry in :data:`ENTRIES_META`; the partial entry misses conditions and has a failed cell."""
    rows = []
    for (entry, mode, seed), (clean, factor) in _SPECS.items():
        for cond in all_conditions():
            if entry == "bevdet-partial" and str(cond) in PARTIAL_MISSING:
                continue
            row = make_row(entry, mode, seed, cond, clean, factor)
            if entry == "bevdet-partial" and str(cond) == PARTIAL_FAILED:
                row = ResultRow(
                    entry=entry,
                    train_mode=mode,
                    condition=str(cond),
                    seed=seed,
                    dataset_id=row.dataset_id,
                    config_hash=row.config_hash,
                    status="failed",
                    error="CUDA out of memory <oops>",
                )
            rows.append(row)
    return rows


def nds_table(entry: str, mode: str = "clean", seed: int = 0) -> dict[str, float]:
    """Condition -> NDS of one fixture (entry, mode, seed), as the tests' independent expectation."""
    clean, factor = _SPECS[(entry, mode, seed)]
    return {str(c): _condition_nds(clean, factor, c) for c in all_conditions()}


#: RayD3D Table 1 (published, real nuScenes-C): RR per corruption in percent and clean val NDS/mAP.
RAYD3D_TABLE1_CSV = """entry,source,role,base,train_mode,condition,metric,value
BEVDet (paper),"RayD3D, Table 1",student,,clean,clean,nds,37.4
BEVDet (paper),"RayD3D, Table 1",student,,clean,clean,map,29.6
BEVDet (paper),"RayD3D, Table 1",student,,clean,Brightness,rr,67.9
BEVDet (paper),"RayD3D, Table 1",student,,clean,CameraCrash,rr,66.3
BEVDet (paper),"RayD3D, Table 1",student,,clean,ColorQuant,rr,65.4
BEVDet (paper),"RayD3D, Table 1",student,,clean,Fog,rr,64.9
BEVDet (paper),"RayD3D, Table 1",student,,clean,FrameLost,rr,52.5
BEVDet (paper),"RayD3D, Table 1",student,,clean,LowLight,rr,29.2
BEVDet (paper),"RayD3D, Table 1",student,,clean,MotionBlur,rr,55.1
BEVDet (paper),"RayD3D, Table 1",student,,clean,Snow,rr,16.3
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,clean,nds,41.9
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,clean,map,32.7
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,Brightness,rr,69.6
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,CameraCrash,rr,66.3
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,ColorQuant,rr,66.0
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,Fog,rr,66.4
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,FrameLost,rr,57.0
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,LowLight,rr,29.5
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,MotionBlur,rr,59.2
BEVDet + RayD3D (paper),"RayD3D, Table 1",distill,BEVDet (paper),clean,Snow,rr,23.8
"""
