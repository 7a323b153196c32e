"""Render the static leaderboard site: data in, files out (no store access here).

The site is self-contained: CSS and JavaScript are inlined from
``leaderboard/static``, charts are inline SVG, the optional corruption gallery is an
inline base64 PNG, so the pages work opened from disk (``file://``) and from any
static host. Templates run with autoescaping on: entry names are shown as text.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from corruptions.spec import CORRUPTIONS, LEVELS
from robobench.conditions import CLEAN
from robobench.constants import DETECTION_CLASSES
from robobench.errors import UserError
from robobench.schema import DETECTION_METRICS, ResultRow, TrainingRecord

from leaderboard import charts, exports
from leaderboard.model import (
    GAIN_ALPHA,
    MIN_MAP,
    Board,
    Group,
    Stat,
    build_board,
    conditions_present,
    detection_table,
    nested_columns,
    nested_getter,
)

#: Short column labels for the eight corruptions (full names in the header tooltip).
SHORT = {
    "Brightness": "Bright\u00adness",
    "LowLight": "Low light",
    "Fog": "Fog",
    "Snow": "Snow",
    "MotionBlur": "Motion blur",
    "ColorQuant": "Color quant",
    "CameraCrash": "Camera crash",
    "FrameLost": "Frame lost",
    "AbsRel c.": "AbsRel corr.",
}
#: Tooltip of each training protocol's badge.
MODE_TITLES = {
    "clean": "trained on clean images",
    "corrupted": "trained with the eight test corruptions simulated: ranked only against rows trained the same way",
    "heldout": "trained with corruptions disjoint from the eight test corruptions",
}
EXPORT_FILES = {"csv": "results.csv", "json": "results.json", "markdown": "results.md", "latex": "results.tex"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Lines drawn at most in the bar and severity charts (the highest mRR); the table has all.
CHART_LIMIT = 12


def page_name(entry: str) -> str:
    """A safe, unique file name for an entry page: readable slug plus a hash of the exact name."""
    slug = re.sub(r"[^a-z0-9]+", "-", entry.lower()).strip("-")[:40] or "entry"
    return f"entry-{slug}-{hashlib.sha1(entry.encode('utf-8')).hexdigest()[:8]}.html"


#: Display names of metric keys found in rows (depth, breakdown, detection); others are shown as written.
LABELS = {
    "nds": "NDS",
    "map": "mAP",
    "mate": "mATE",
    "mase": "mASE",
    "maoe": "mAOE",
    "mave": "mAVE",
    "maae": "mAAE",
    "abs_rel": "AbsRel",
    "sq_rel": "SqRel",
    "rmse": "RMSE",
    "rmse_log": "RMSE log",
    "silog": "SILog",
    "log10": "log10",
    "delta1": "δ<1.25",
    "delta2": "δ<1.25²",
    "delta3": "δ<1.25³",
    "small_map": "small-object mAP",
}


def metric_label(key: str | tuple[str, ...]) -> str:
    """``("all", "abs_rel")`` -> ``all AbsRel``; ``("range_0_30", "nds")`` -> ``0-30 m NDS``."""
    parts = (key,) if isinstance(key, str) else key
    out = []
    for part in parts:
        rng = re.fullmatch(r"range_(\d+)_(\d+)", part)
        out.append(f"{rng[1]}–{rng[2]} m" if rng else LABELS.get(part, part))
    return " ".join(out)


def heat(st: Stat | None) -> str:
    """Background colour of an RR cell: red (RR <= 40 %) through amber to green (RR >= 100 %)."""
    if st is None or not st.complete:
        return ""
    t = min(1.0, max(0.0, (st.mean - 0.4) / 0.6))
    return f"background-color:hsl({int(8 + 122 * t)},62%,{88 - 4 * abs(t - 0.5):.0f}%)"


def sort_value(st: Stat | None) -> str:
    """``data-v`` of a cell: the complete value, or empty (sorted last) when missing or partial."""
    return f"{st.mean:.6f}" if st is not None and st.complete else ""


def missing_text(st: Stat | None, limit: int = 12) -> str:
    """Tooltip listing what a partial value lacks."""
    if st is None or not st.missing:
        return ""
    head = ", ".join(st.missing[:limit])
    more = f" and {len(st.missing) - limit} more" if len(st.missing) > limit else ""
    return f"missing: {head}{more}"


def fmt(st: Stat | None, digits: int = 1, scale: float = 100.0) -> Markup:
    """A complete value as HTML (``37.4``), with the seed spread in a small second line when there are several seeds
    and its 95 % interval (over seeds, or the scene bootstrap of one seed) as the number's tooltip."""
    if st is None or not st.complete:
        return Markup("")
    text = f"{scale * st.mean:.{digits}f}"  # numbers only: nothing to escape
    if st.ci is not None:
        over = f"over {st.n} seeds" if st.ci_kind == "seeds" else "scene bootstrap, one seed: evaluation noise only"
        text = (
            f'<span class="ci" title="95 % interval {scale * st.ci[0]:.{digits}f} '
            f'to {scale * st.ci[1]:.{digits}f} ({over})">{text}</span>'
        )
    if st.std is not None:
        text += f'<span class="sd">±{scale * st.std:.{digits}f}</span>'
    return Markup(text)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leaderboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(fmt=fmt, metric_label=metric_label, GAIN_ALPHA=GAIN_ALPHA)
    env.filters.update(
        heat=heat,
        sortv=sort_value,
        missing=missing_text,
        gain=exports.format_gain,
        significance=exports.gain_significance,
        within_spread=exports.gain_within_spread,
    )
    static = resources.files("leaderboard") / "static"
    env.globals.update(
        css=Markup(static.joinpath("style.css").read_text(encoding="utf-8")),
        js=Markup(static.joinpath("table.js").read_text(encoding="utf-8")),
        CORRUPTIONS=CORRUPTIONS,
        LEVELS=LEVELS,
        SHORT=SHORT,
        DETECTION_METRICS=DETECTION_METRICS,
        MODE_TITLES=MODE_TITLES,
        DETECTION_CLASSES=DETECTION_CLASSES,
        exports=EXPORT_FILES,
    )
    return env


def _gallery_data(gallery: bytes | str | Path | None) -> str | None:
    """``data:`` URI of a PNG gallery (bytes or a file path), or None when no gallery is given."""
    if gallery is None:
        return None
    data = gallery if isinstance(gallery, bytes) else Path(gallery).read_bytes()
    if not data.startswith(PNG_MAGIC):
        raise UserError(
            f"corruption gallery {gallery if not isinstance(gallery, bytes) else '(bytes)'} is not a PNG image"
        )
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _entry_context(board: Board, entry: str) -> dict[str, Any]:
    groups = board.entry_groups(entry)
    sections = []
    for g in groups:
        present = conditions_present(g)
        depth_cols = nested_columns(g.rows, "depth")
        brk_cols = nested_columns(g.rows, "breakdown")
        classes = [c for c in DETECTION_CLASSES if any(c in (r.per_class or {}) for r in g.rows)]
        classes += sorted({c for r in g.rows for c in (r.per_class or {})} - set(classes))
        sections.append(
            {
                "group": g,
                "table": detection_table(g),
                "present": present,
                "depth_cols": depth_cols,
                "depth": [(c, [g.condition_stat(c, nested_getter("depth", p)) for p in depth_cols]) for c in present],
                "brk_cols": brk_cols,
                "breakdown": [
                    (c, [g.condition_stat(c, nested_getter("breakdown", p)) for p in brk_cols]) for c in present
                ],
                "classes": classes,
                "per_class": _per_class(g, classes),
                "provenance": _provenance(g),
            }
        )
    meta = groups[0].meta
    pages = {g.entry: g.page for g in board.measured}
    return {"entry": entry, "meta": meta, "sections": sections, "pages": pages}


def _per_class(g: Group, classes: list[str]) -> list[dict[str, Any]]:
    out = []
    for cls in classes:
        cells = {"ap_mean": g.condition_stat(CLEAN, nested_getter("per_class", (cls, "ap_mean")))}
        for t in ("0.5", "1.0", "2.0", "4.0"):
            cells[f"ap@{t}"] = g.condition_stat(CLEAN, nested_getter("per_class", (cls, "ap", t)))
        for err in ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err"):
            cells[err] = g.condition_stat(CLEAN, nested_getter("per_class", (cls, err)))
        cells["ap_corrupted"] = g.corrupted_average(nested_getter("per_class", (cls, "ap_mean")))
        out.append({"name": cls, "cells": cells})
    return out


def _provenance(g: Group) -> dict[str, str]:
    rows: list[ResultRow] = g.rows + g.failed

    def uniq(attr: str) -> str:
        vals = sorted({str(getattr(r, attr)) for r in rows if getattr(r, attr) not in (None, "")})
        return ", ".join(vals) or "—"

    dates = sorted(r.created_at for r in rows if r.created_at)
    wall = sum(r.wall_time for r in g.rows if r.wall_time is not None)
    return {
        **_training_cost(g),
        "Seeds": ", ".join(map(str, g.seeds)),
        "Dataset id": uniq("dataset_id"),
        "Profile": uniq("profile"),
        "Config hash": uniq("config_hash"),
        "Code version": uniq("code_version"),
        "Evaluated": (dates[0] if dates[0] == dates[-1] else f"{dates[0]} … {dates[-1]}") if dates else "—",
        "Cells": f"{len(g.rows)} ok, {len(g.failed)} failed",
        "Evaluation wall time": f"{wall:.1f} s" if wall else "—",
    }


def _training_cost(g: Group) -> dict[str, str]:
    """Provenance lines on what training the group's models cost, per seed, and against the base entry."""
    if not g.trainings:
        return {"Training": "no training record (trained outside a sweep)"}
    several = len(g.trainings) > 1

    def per_seed(text: Any) -> str:
        return "; ".join(f"seed {t.seed}: {text(t)}" if several else text(t) for t in g.trainings)

    out = {
        "Training wall time": per_seed(lambda t: f"{t.wall_time_s / 3600:.2f} h" if t.wall_time_s is not None else "—"),
        "Training peak memory": per_seed(
            lambda t: (
                (f"{t.peak_rss_mb:.0f} MB RSS" if t.peak_rss_mb is not None else "—")
                + (f", {t.peak_cuda_mb:.0f} MB CUDA" if t.peak_cuda_mb is not None else "")
            )
        ),
        "Training iterations": per_seed(lambda t: f"{t.iterations} on {t.world_size or 1} × {t.device or '?'}"),
    }
    if g.train_ratio is not None:
        out["Training time vs base"] = f"{g.train_ratio:.2f} × {g.meta.base}'s"
    return out


def render_site(
    rows: Iterable[ResultRow],
    entries_meta: Mapping[str, Any] | Iterable[Any] | None,
    out_dir: str | Path,
    baseline: str | None = None,
    references: Iterable[Any] = (),
    gallery: bytes | str | Path | None = None,
    title: str = "robobench robustness leaderboard",
    min_map: float = MIN_MAP,
    trainings: Iterable[TrainingRecord] = (),
) -> Path:
    """Write ``index.html``, one page per entry, and the CSV/JSON/Markdown/LaTeX exports; return index's path.

    ``rows``: :class:`robobench.schema.ResultRow` (any number, may be empty);
    ``entries_meta``: ``{name: {role, base, teacher, paper, description}}`` or records
    with a ``name``; ``baseline``: mCE reference entry (default the first root student);
    ``references``: :class:`leaderboard.references.ReferenceEntry`; ``gallery``: PNG
    bytes or path of ``robobench corrupt gallery`` output; ``min_map``: clean mAP below
    which a measured row is tagged "low mAP" and not ranked; ``trainings``: the store's
    :class:`robobench.schema.TrainingRecord` (training cost columns). Entry pages of an earlier
    render in ``out_dir`` are removed so no stale page survives.
    """
    board = build_board(
        rows, entries_meta, baseline=baseline, references=references, min_map=min_map, trainings=trainings
    )
    return write_board(board, out_dir, gallery=gallery, title=title)


def write_board(
    board: Board,
    out_dir: str | Path,
    gallery: bytes | str | Path | None = None,
    title: str = "robobench robustness leaderboard",
) -> Path:
    """Write the site of a built :class:`~leaderboard.model.Board` (what :func:`render_site` does after
    :func:`~leaderboard.model.build_board`); return index's path. A caller that also shows the board
    elsewhere (the sweep's terminal summary) passes the same board, so both show the same numbers."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("entry-*.html"):
        old.unlink()
    for g in board.measured:
        g.page = page_name(g.entry)
    env = _environment()
    series = charts.series_for(board.groups)
    crowded = charts.top_series(series, CHART_LIMIT)
    crowded_lines = charts.top_series([s for s in series if not s.group.reference], CHART_LIMIT)
    dates = sorted(r.created_at for g in board.measured for r in g.rows if r.created_at)
    context = {
        "title": title,
        "board": board,
        "groups": board.groups,
        "roles": sorted({("reference" if g.reference else g.meta.role or "unknown") for g in board.groups}),
        "modes": sorted({g.train_mode for g in board.groups}),
        "datasets": sorted({g.dataset_id for g in board.measured}),
        "profiles": sorted({g.profile for g in board.measured}),
        "as_of": dates[-1] if dates else None,
        "scatter": Markup(charts.scatter_nds_mrr(series)),
        "bars": Markup(charts.rr_bars(crowded)),
        "severity": Markup(charts.severity_multiples(crowded_lines)),
        "chart_limit": CHART_LIMIT if len(crowded) < len(series) else None,
        "gallery": _gallery_data(gallery),
        "partial": [g for g in board.groups if any(st.partial for st in g.metrics.values())],
    }
    index = out / "index.html"
    index.write_text(env.get_template("index.html.j2").render(**context), encoding="utf-8")
    entry_tpl = env.get_template("entry.html.j2")
    for entry in dict.fromkeys(g.entry for g in board.measured):
        ctx = _entry_context(board, entry)
        (out / page_name(entry)).write_text(entry_tpl.render(title=title, board=board, **ctx), encoding="utf-8")
    (out / EXPORT_FILES["csv"]).write_text(exports.to_csv(board), encoding="utf-8")
    (out / EXPORT_FILES["json"]).write_text(exports.to_json(board), encoding="utf-8")
    (out / EXPORT_FILES["markdown"]).write_text(exports.to_markdown(board), encoding="utf-8")
    (out / EXPORT_FILES["latex"]).write_text(exports.to_latex(board), encoding="utf-8")
    return index


def render_store(
    store: Any,
    out_dir: str | Path,
    baseline: str | None = None,
    references: Iterable[Any] = (),
    gallery: bytes | str | Path | None = None,
    min_map: float = MIN_MAP,
) -> Path:
    """:func:`render_site` from a :class:`robobench.store.ResultStore`: all its rows, its ``entries``
    table and its training records."""
    return write_board(
        store_board(store, baseline=baseline, references=references, min_map=min_map), out_dir, gallery=gallery
    )


def store_board(
    store: Any, baseline: str | None = None, references: Iterable[Any] = (), min_map: float = MIN_MAP
) -> Board:
    """:func:`~leaderboard.model.build_board` of a :class:`robobench.store.ResultStore`'s rows,
    entries and trainings.
    """
    return build_board(
        store.rows(),
        store.entries(),
        baseline=baseline,
        references=references,
        min_map=min_map,
        trainings=store.trainings(),
    )
