"""The fidelity report: a world's camera views against statistics of real nuScenes views.

``robobench data fidelity`` measures a set of views (a seeded sample of a dataroot's key-frame
camera images, or every image of a folder) with :mod:`robobench.data.fidelity`, and compares
them with the reference file shipped in the project (:data:`DEFAULT_REFERENCE`), which holds
the same measurements of real nuScenes views. Real nuScenes is CC BY-NC-SA and stays out of
the project: only the derived numbers ship, with the command that recomputes them.

Two training-free checks and one with training:

1. image statistics, world over reference, passing within :data:`TOLERANCE`;
2. the corruption response (SSIM and gradient ratio of clean vs corrupted, per corruption
   and level), world beside reference, with their rank correlation;
3. RoboBEV's published resilience rates of BEVDet-R50 (:data:`DEFAULT_TARGET`), the
   calibration target, beside the per-corruption RR of an entry from a results store.
"""

from __future__ import annotations

import json
import math
import statistics as pystats
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.data import fidelity
from robobench.errors import UserError
from robobench.io import atomic_write

#: The reference statistics of real nuScenes camera views shipped with the project.
DEFAULT_REFERENCE: Final[Path] = Path(__file__).with_name("nuscenes_fidelity_reference.json")

#: RoboBEV's published per-corruption resilience rates of BEVDet-R50 (the calibration target).
DEFAULT_TARGET: Final[Path] = Path(__file__).with_name("robobev_bevdet_r50_rr.json")

#: A statistic passes when world / reference lies within 1 +- TOLERANCE.
TOLERANCE: Final[float] = 0.25

#: The calibration bar an entry's eight RRs must meet against the target: rank correlation at
#: least this, mean absolute difference (RR points) at most this, Snow among the three worst
#: corruptions and Fog not the worst, as on real nuScenes.
CALIBRATION_SPEARMAN: Final[float] = 0.7
CALIBRATION_MAD: Final[float] = 10.0

REFERENCE_FORMAT: Final[str] = "robobench-fidelity-reference"
REPORT_FORMAT: Final[str] = "robobench-fidelity-report"
FORMAT_VERSION: Final[int] = 1

IMAGE_SUFFIXES: Final[tuple[str, ...]] = (".jpg", ".jpeg", ".png")

#: Defaults of the command's options that change its numbers (a written reference records the others).
DEFAULTS: Final[dict[str, int]] = {"views": 60, "corruption_views": 12, "seed": 0, "width": fidelity.MODEL_WIDTH}


class Summary(msgspec.Struct, forbid_unknown_fields=True):
    """Mean, standard deviation, min and max of a measure over views."""

    mean: float
    std: float
    min: float
    max: float


class Source(msgspec.Struct, forbid_unknown_fields=True):
    """What a reference was measured on: a description, the number of views and their sizes."""

    description: str
    views: int
    sizes: list[str]


class Reference(msgspec.Struct, forbid_unknown_fields=True):
    """The reference file: statistics and corruption response of a set of views, and how to remake it."""

    format: str
    format_version: int
    description: str
    command: str
    source: Source
    width: int
    seed: int
    engine: str
    corruption_views: int
    statistics: dict[str, Summary]
    corruption_response: dict[str, dict[str, dict[str, Summary]]]


class Target(msgspec.Struct, forbid_unknown_fields=True):
    """Published resilience rates (percent) of one model, per corruption."""

    name: str
    source: str
    metric: str
    note: str
    rr: dict[str, float]


@dataclass(frozen=True)
class ViewSet:
    """Views to measure: ``(id, path)`` pairs (the id seeds the corruptions), out of ``available``.

    ``description`` names where they come from; ``generic`` and ``command`` say the same with
    the paths left out, as a written reference records them (a file must not carry local paths).
    """

    description: str
    views: list[tuple[str, Path]]
    available: int
    generic: str
    command: str


@dataclass
class Measurement:
    """Statistics and corruption response of a view set (summaries as plain dicts), sampled out of ``available``."""

    source: Source
    available: int
    width: int
    seed: int
    engine: str
    corruption_views: int
    statistics: dict[str, dict[str, float]]
    corruption_response: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)
    corrupt_width: int | None = None


# -- choosing and reading views -----------------------------------------------------------------


def _sample(items: list[tuple[str, Path]], n: int, seed: int) -> list[tuple[str, Path]]:
    """A seeded sample of ``n`` items (all of them, in order, when there are no more than ``n``)."""
    if len(items) <= n:
        return items
    picks = np.random.default_rng(seed).choice(len(items), size=n, replace=False)
    return [items[i] for i in sorted(picks)]


def dataroot_views(dataroot: Path, version: str, n: int, seed: int) -> ViewSet:
    """A seeded sample of ``n`` key-frame camera views of a nuScenes dataroot (any split), via the devkit."""
    from robobench.data.nusc import open_nuscenes

    nusc = open_nuscenes(dataroot, version)
    records = sorted(
        (sd["token"], Path(nusc.dataroot) / sd["filename"]) for sd in nusc.sample_data
        if sd["is_key_frame"] and sd["sensor_modality"] == "camera"
    )
    if not records:
        raise UserError(f"no key-frame camera images in {dataroot} ({version}); is it a nuScenes dataroot?")
    return ViewSet(f"{dataroot} ({version})", _sample(records, n, seed), len(records),
                   f"key-frame camera views of a nuScenes dataroot ({version})",
                   f"robobench data fidelity --dataroot DATAROOT --version {version}")


def folder_views(folder: Path, n: int, seed: int) -> ViewSet:
    """A seeded sample of ``n`` images (``.jpg``, ``.jpeg``, ``.png``) of a folder; each file's name is its id."""
    if not folder.is_dir():
        raise UserError(f"--images {str(folder)!r} is not a folder; pass a folder of camera images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"--images {str(folder)!r} holds no {', '.join(IMAGE_SUFFIXES)} files")
    return ViewSet(f"images in {folder}", _sample([(p.name, p) for p in files], n, seed), len(files),
                   "images of a folder", "robobench data fidelity --images DIR")


def load_view(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB; ``UserError`` naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise UserError(f"image {path} is missing; the dataset is incomplete (regenerate or re-download it)") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"image {path} cannot be read as an image ({exc}); replace or remove it") from None


def measure(viewset: ViewSet, corruption_views: int, seed: int, width: int = fidelity.MODEL_WIDTH,
            engine: str = "fast", label: str | None = None, corrupt_width: int | None = None) -> Measurement:
    """Image statistics of every view of ``viewset`` and the corruption response of its first ``corruption_views``.

    One pass over the views, one image in memory at a time. ``label`` replaces the view set's
    description in the result (a reference file records what its views are, not a local path);
    ``corrupt_width`` is passed to :func:`robobench.data.fidelity.view_corruption_response`.
    """
    stats, responses, sizes = [], [], set()
    for i, (view_id, path) in enumerate(viewset.views):
        image = load_view(path)
        sizes.add(f"{image.shape[1]}x{image.shape[0]}")
        try:
            stats.append(fidelity.view_statistics(image, width))
            if i < corruption_views:
                responses.append(fidelity.view_corruption_response(image, view_id, seed, width, engine,
                                                                   corrupt_width))
        except ValueError as exc:  # e.g. an image too small for the corruption engine
            raise UserError(f"image {path} cannot be measured: {exc}") from None
    source = Source(label or viewset.description, len(viewset.views), sorted(sizes))
    return Measurement(source, viewset.available, width, seed, engine, len(responses), fidelity.summarise(stats),
                       fidelity.summarise_response(responses) if responses else {}, corrupt_width)


# -- the reference file -------------------------------------------------------------------------


def _decode_error(path: Path, what: str, exc: Exception) -> UserError:
    return UserError(f"{what} {path} is not valid ({exc}); restore it from the project or rewrite it "
                     "with `robobench data fidelity --images DIR --write-reference FILE`")


def read_reference(path: Path) -> Reference:
    """Decode and check a reference file: every statistic, corruption, level and measure present."""
    if not path.is_file():
        raise UserError(f"reference file {path} does not exist; pass --reference FILE or omit it for the shipped one")
    try:
        ref = msgspec.json.decode(path.read_bytes(), type=Reference)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _decode_error(path, "reference file", exc) from None
    if ref.format != REFERENCE_FORMAT or ref.format_version != FORMAT_VERSION:
        found = f"format {ref.format!r} version {ref.format_version}"
        raise _decode_error(path, "reference file",
                            ValueError(f"{found}, expected {REFERENCE_FORMAT!r} version {FORMAT_VERSION}"))
    missing = [f"$.statistics.{k}" for k in fidelity.STATISTIC_KEYS if k not in ref.statistics]
    missing += [f"$.corruption_response.{c}.{lvl}.{m}" for c in CORRUPTIONS for lvl in LEVELS
                for m in fidelity.RESPONSE_KEYS if m not in ref.corruption_response.get(c, {}).get(lvl, {})]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise _decode_error(path, "reference file", ValueError(f"missing {', '.join(missing[:3])}{more}"))
    return ref


def reference_command(viewset: ViewSet, options: dict[str, int], labelled: bool) -> str:
    """The command that rewrites a reference: paths as placeholders, options that differ from :data:`DEFAULTS`."""
    changed = [f"--{name.replace('_', '-')} {value}" for name, value in options.items() if value != DEFAULTS[name]]
    label = ["--label TEXT"] if labelled else []
    return " ".join([viewset.command, *changed, *label, "--write-reference FILE"])


def reference_payload(m: Measurement, command: str) -> dict[str, Any]:
    """The reference file's content for a measurement (what ``--write-reference`` writes)."""
    if not m.corruption_response:
        raise UserError("--write-reference needs the corruption response; pass --corruption-views 1 or more")
    return {
        "format": REFERENCE_FORMAT,
        "format_version": FORMAT_VERSION,
        "description": "Image statistics and corruption response of camera views, measured by "
                       "robobench.data.fidelity (derived numbers only: the images themselves are not included).",
        "command": command,
        "source": msgspec.to_builtins(m.source),
        "width": m.width,
        "seed": m.seed,
        "engine": m.engine,
        "corruption_views": m.corruption_views,
        "statistics": m.statistics,
        "corruption_response": m.corruption_response,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically (a temporary file renamed over ``path``)."""
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass a file name such as {path / 'fidelity.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            fh.write(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc}); pass a writable file path") from None


def read_target(path: Path = DEFAULT_TARGET) -> Target:
    """The calibration target's published RR per corruption (every RoboBEV corruption present)."""
    try:
        target = msgspec.json.decode(path.read_bytes(), type=Target)
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UserError(f"calibration target {path} is not readable ({exc}); restore it from the project") from None
    missing = [c for c in CORRUPTIONS if c not in target.rr]
    if missing:
        raise UserError(f"calibration target {path} lacks the RR of {', '.join(missing)}; restore it from the project")
    return target


# -- comparisons --------------------------------------------------------------------------------


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation, or None when it is undefined (fewer than 3 pairs, a constant side)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def compare_statistics(world: dict[str, dict[str, float]], reference: Reference) -> dict[str, dict[str, Any]]:
    """Per statistic: world mean / reference mean and whether it is within :data:`TOLERANCE`.

    A reference mean of 0 gives a ratio of 1 when the world's is 0 too, else ``None`` (fails).
    """
    out = {}
    for stat in fidelity.STATISTICS:
        ref, ours = reference.statistics[stat.key].mean, world[stat.key]["mean"]
        ratio = ours / ref if ref != 0 else (1.0 if ours == 0 else None)  # None: undefined, never within
        out[stat.key] = {"ratio": ratio, "within": ratio is not None and abs(ratio - 1.0) <= TOLERANCE,
                         "gated": stat.gated}
    return out


def _mean_over_levels(response: dict[str, dict[str, Any]], corruption: str, measure: str) -> float:
    return pystats.fmean(_mean(response[corruption][lvl][measure]) for lvl in LEVELS)


def _mean(summary: Summary | dict[str, float]) -> float:
    return summary.mean if isinstance(summary, Summary) else summary["mean"]


def compare_response(world: dict[str, Any], reference: Reference) -> dict[str, float | None]:
    """Rank correlation of the world's SSIM with the reference's, over the 8 corruptions and the 24 conditions."""
    ref = reference.corruption_response
    per_corruption = ([_mean_over_levels(world, c, "ssim") for c in CORRUPTIONS],
                      [_mean_over_levels(ref, c, "ssim") for c in CORRUPTIONS])
    per_condition = ([world[c][lvl]["ssim"]["mean"] for c in CORRUPTIONS for lvl in LEVELS],
                     [ref[c][lvl]["ssim"].mean for c in CORRUPTIONS for lvl in LEVELS])
    return {"spearman_corruptions": spearman(*per_corruption), "spearman_conditions": spearman(*per_condition)}


@dataclass(frozen=True)
class EntryRR:
    """An entry's per-corruption RR (percent, mean over seeds) on one dataset and profile, and its
    clean NDS (mean and sample sd over the seeds that have it; sd 0 for one seed): RRs of a model
    that barely detects are ratios of noise, so a calibration is read beside how well it learned."""

    entry: str
    dataset_id: str
    profile: str
    seeds: list[int]
    rr: dict[str, float]
    rr_std: dict[str, float]
    clean_nds: float | None = None
    clean_nds_std: float | None = None


def entry_rr(db: Path, entry: str) -> list[EntryRR]:
    """Per (dataset, profile) the clean-trained entry's RR per corruption from a results store.

    RR per seed by :func:`robobench.metrics.robustness.resilience_rates`; corruptions some seed
    lacks are left out.
    """
    from robobench.conditions import CLEAN
    from robobench.metrics.robustness import resilience_rates, to_percent
    from robobench.store import ResultStore

    if not db.is_file():
        raise UserError(f"no results database at {db}; pass --db with a store written by `robobench sweep`")
    with ResultStore(db) as store:
        rows = store.rows(entry=entry, train_mode="clean", status="ok")
        if not rows:
            names = sorted({r.entry for r in store.rows(status="ok")})
            raise UserError(f"no clean-trained results of entry {entry!r} in {db}; entries there: "
                            f"{', '.join(names) or 'none'}")
    groups: dict[tuple[str, str], dict[int, dict[str, float]]] = {}
    for row in rows:
        if row.nds is not None:
            groups.setdefault((row.dataset_id, row.profile), {}).setdefault(row.seed, {})[row.condition] = row.nds
    out = []
    for (dataset_id, profile), by_seed in sorted(groups.items()):
        per_seed = [resilience_rates(nds) for nds in by_seed.values()]
        common = [c for c in CORRUPTIONS if all(c in rr for rr in per_seed)]
        rr = {c: to_percent(pystats.fmean(r[c] for r in per_seed)) for c in common}
        std = {c: to_percent(pystats.stdev(r[c] for r in per_seed)) if len(per_seed) > 1 else 0.0 for c in common}
        clean = [nds[str(CLEAN)] for nds in by_seed.values() if str(CLEAN) in nds]
        nds_mean = pystats.fmean(clean) if clean else None
        nds_std = pystats.stdev(clean) if len(clean) > 1 else (0.0 if clean else None)
        out.append(EntryRR(entry, dataset_id, profile, sorted(by_seed), rr, std, nds_mean, nds_std))
    return out


def agreement(rr: dict[str, float], target: Target) -> dict[str, Any]:
    """Spearman and mean absolute difference (RR points) of ``rr`` against the target, over shared corruptions.

    ``bar`` says whether the calibration bar (:data:`CALIBRATION_SPEARMAN`, :data:`CALIBRATION_MAD`,
    Snow among the three lowest RRs, Fog not the lowest) is met; ``None`` unless all eight are there.
    """
    names = [c for c in CORRUPTIONS if c in rr]
    ours, theirs = [rr[c] for c in names], [target.rr[c] for c in names]
    rho = spearman(ours, theirs)
    mad = pystats.fmean(abs(a - b) for a, b in zip(ours, theirs)) if names else None
    bar = None
    if len(names) == len(CORRUPTIONS):
        worst = sorted(names, key=rr.__getitem__)
        bar = (rho is not None and rho >= CALIBRATION_SPEARMAN and mad is not None and mad <= CALIBRATION_MAD
               and "Snow" in worst[:3] and worst[0] != "Fog")
    return {"corruptions": len(names), "spearman": rho, "mean_abs_diff": mad, "bar": bar}


# -- the report ---------------------------------------------------------------------------------


def _shown(path: Path | None) -> str:
    """A reference path as the report shows it: the shipped file relative to the project, others as given."""
    if path is None:
        return ""
    root = DEFAULT_REFERENCE.parents[2]
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved == DEFAULT_REFERENCE.resolve() else str(path)


def report(m: Measurement, reference: Reference | None, reference_path: Path | None, target: Target,
           entries: Sequence[EntryRR] = ()) -> dict[str, Any]:
    """The fidelity report as data: the world's measurement, the reference's, and every comparison."""
    out: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "format_version": FORMAT_VERSION,
        "tolerance": TOLERANCE,
        "world": {"source": msgspec.to_builtins(m.source), "available": m.available, "width": m.width,
                  "seed": m.seed, "engine": m.engine, "corruption_views": m.corruption_views,
                  "corrupt_width": m.corrupt_width,
                  "statistics": m.statistics, "corruption_response": m.corruption_response},
    }
    if reference is not None:
        out["reference"] = {"file": _shown(reference_path), **msgspec.to_builtins(reference)}
        out["statistics"] = compare_statistics(m.statistics, reference)
        if m.corruption_response:
            out["corruption_response"] = compare_response(m.corruption_response, reference)
    calibration: dict[str, Any] = {"target": msgspec.to_builtins(target)}
    ssim_sides = {"world": m.corruption_response}
    if reference is not None:
        ssim_sides["reference"] = reference.corruption_response
    calibration["ssim_vs_target_spearman"] = {
        side: spearman([_mean_over_levels(resp, c, "ssim") for c in CORRUPTIONS], [target.rr[c] for c in CORRUPTIONS])
        for side, resp in ssim_sides.items() if resp
    }
    calibration["entries"] = [{**asdict(e), **agreement(e.rr, target)} for e in entries]
    out["calibration"] = calibration
    return out


def _num(x: float | None) -> str:
    """A measure for a table: three significant digits, no exponent for large values."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _spread(s: dict[str, float] | Summary) -> str:
    d = msgspec.to_builtins(s) if isinstance(s, Summary) else s
    return f"{_num(d['mean'])} ({_num(d['min'])}-{_num(d['max'])})"


def _corr(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def format_report(rep: dict[str, Any]) -> Iterator[str]:
    """The report as text lines: statistics table, corruption-response table, calibration table."""
    world, ref = rep["world"], rep.get("reference")
    src = world["source"]
    yield (f"world: {src['description']}: {src['views']} of {world['available']} views ({', '.join(src['sizes'])}), "
           f"seed {world['seed']}, "
           f"resized to {world['width']} px wide")
    if ref is not None:
        rs = ref["source"]
        yield f"reference: {rs['description']}: {rs['views']} views ({', '.join(rs['sizes'])}) from {ref['file']}"
    yield ""
    header = f"{'statistic':<42} {'world':>24}"
    if ref is not None:
        header += f" {'reference':>24} {'ratio':>6}  within {TOLERANCE:.0%}"
    yield header
    for stat in fidelity.STATISTICS:
        line = f"{stat.label + (' *' if stat.gated else ''):<42} {_spread(world['statistics'][stat.key]):>24}"
        if ref is not None:
            cmp = rep["statistics"][stat.key]
            line += (f" {_spread(ref['statistics'][stat.key]):>24} {_num(cmp['ratio']):>6}  "
                     f"{'yes' if cmp['within'] else 'no'}")
        yield line
    if ref is not None:
        gated = [v for v in rep["statistics"].values() if v["gated"]]
        yield f"* the fidelity bar: {sum(v['within'] for v in gated)} of {len(gated)} within {TOLERANCE:.0%}"
    yield from _format_response(rep)
    yield from _format_calibration(rep)


def _format_response(rep: dict[str, Any]) -> Iterator[str]:
    world, ref = rep["world"], rep.get("reference")
    resp = world["corruption_response"]
    if not resp:
        return
    yield ""
    views = f"{world['corruption_views']} world views" + (f", {ref['corruption_views']} reference views" if ref else "")
    scale = world["corrupt_width"]
    where = f"world corrupted at {scale} px wide" if scale else "corrupted at native size"
    yield (f"corruption response at {world['width']} px ({views}; {where}): "
           "SSIM clean vs corrupted, mean gradient corrupted / clean")
    header = f"{'corruption':<12} {'level':<5} {'world SSIM':>10} {'world grad':>10}"
    if ref is not None:
        header += f" {'ref SSIM':>9} {'ref grad':>9}"
    yield header
    for c in CORRUPTIONS:
        for lvl in LEVELS:
            w = resp[c][lvl]
            line = f"{c:<12} {lvl:<5} {w['ssim']['mean']:>10.3f} {w['gradient_ratio']['mean']:>10.3f}"
            if ref is not None:
                r = ref["corruption_response"][c][lvl]
                line += f" {r['ssim']['mean']:>9.3f} {r['gradient_ratio']['mean']:>9.3f}"
            yield line
    if ref is not None:
        cmp = rep["corruption_response"]
        yield (f"Spearman of world vs reference SSIM: {_corr(cmp['spearman_corruptions'])} over the 8 corruptions "
               f"(mean over levels), {_corr(cmp['spearman_conditions'])} over the 24 conditions")


def _format_calibration(rep: dict[str, Any]) -> Iterator[str]:
    cal = rep["calibration"]
    target = cal["target"]
    entries = cal["entries"]
    world_resp = rep["world"]["corruption_response"]
    ref_resp = rep.get("reference", {}).get("corruption_response")
    yield ""
    yield f"resilience rate (%) per corruption; target: {target['name']} ({target['source']})"
    cols = [("SSIM world", world_resp), ("SSIM ref", ref_resp)]
    cols = [(name, resp) for name, resp in cols if resp]
    labels = [f"{e['entry']} ({e['profile']}, {len(e['seeds'])} seed{'s' if len(e['seeds']) != 1 else ''})"
              for e in entries]
    yield (f"{'corruption':<12}" + "".join(f" {name:>10}" for name, _ in cols) + f" {'target RR':>10}"
           + "".join(f" {label:>{max(len(label), 10)}}" for label in labels))
    for c in CORRUPTIONS:
        line = f"{c:<12}" + "".join(f" {_mean_over_levels(resp, c, 'ssim'):>10.3f}" for _, resp in cols)
        line += f" {target['rr'][c]:>10.1f}"
        for e, label in zip(entries, labels):
            value = f"{e['rr'][c]:.1f}" if c in e["rr"] else "n/a"
            line += f" {value:>{max(len(label), 10)}}"
        yield line
    for side, rho in cal["ssim_vs_target_spearman"].items():
        yield f"Spearman of {side} SSIM (mean over levels) vs target RR: {_corr(rho)}"
    bar = {True: "met", False: "not met", None: "needs all 8 corruptions"}
    for e, label in zip(entries, labels):
        if e.get("clean_nds") is not None:
            yield f"{label} clean NDS {e['clean_nds']:.3f} (sd {e['clean_nds_std']:.3f})"
        yield (f"{label} on {e['dataset_id']} vs target: Spearman {_corr(e['spearman'])}, mean |difference| "
               f"{_num(e['mean_abs_diff'])} RR points over {e['corruptions']} corruptions; calibration bar "
               f"(Spearman >= {CALIBRATION_SPEARMAN}, difference <= {CALIBRATION_MAD:.0f}, Snow among the 3 worst, "
               f"Fog not the worst): {bar[e['bar']]}")
