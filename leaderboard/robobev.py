"""RoboBEV's published nuScenes-C results, built in as reference rows (``robobench leaderboard --reference robobev``).

RoboBEV (Xie et al., "Benchmarking and Improving Bird's Eye View Perception Robustness in
Autonomous Driving", https://github.com/Daniel-xsy/RoboBEV) scored about thirty camera (and
a few LiDAR and fusion) 3D detectors on nuScenes-C, the ``val`` split of nuScenes
``v1.0-trainval`` under its eight corruptions at three levels. Its per-model result pages
(``docs/results/<model>.md``) print NDS and mAP for the clean split and every
(corruption, level); its README and ``docs/RESULTS.md`` print the aggregates (mCE against
DETR3D, mRR, RR and CE per corruption, per-corruption mean NDS).

Shipped data (``leaderboard/data/``), at RoboBEV commit :data:`ROBOBEV_COMMIT`:

* ``robobev.csv``: the per-level NDS and mAP of every detection result page, in the
  ``--import`` format of :mod:`leaderboard.references` (percent), one entry per page;
* ``robobev_printed.csv``: every aggregate RoboBEV prints, with the table it comes from;
* ``robobev_check.csv``: each printed aggregate beside the value this project computes
  from the per-level numbers with :mod:`robobench.metrics.robustness` (mCE against
  RoboBEV's DETR3D page, as RoboBEV does), and whether they agree to the printed
  precision. Where RoboBEV disagrees with itself (its README and results page print
  different numbers for the same model), at most one of them can agree.

Regenerate all three from a RoboBEV checkout (only numbers are taken from it)::

    python -m leaderboard.robobev build PATH/TO/RoboBEV
    python -m leaderboard.robobev check     # robobev_check.csv from the two shipped files
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from importlib import resources
from pathlib import Path

from corruptions.spec import CORRUPTIONS, LEVELS, canonical_name
from robobench.conditions import Condition
from robobench.errors import UserError
from robobench.metrics import robustness

#: The RoboBEV commit the shipped numbers were read from (2025-02-18).
ROBOBEV_COMMIT = "ff5c2679ac1cbef1ae2153df3036822f8f230512"
ROBOBEV_URL = "https://github.com/Daniel-xsy/RoboBEV"
DATASET = "nuScenes-C (v1.0-trainval val)"
#: The entry RoboBEV's CE/mCE are measured against.
CE_BASELINE_PAGE = "DETR3D.md"
DATA_FILES = {"reference": "robobev.csv", "printed": "robobev_printed.csv", "check": "robobev_check.csv"}
#: Versions and splits on which RoboBEV's numbers are comparable with measured rows.
REAL_NUSCENES_VAL = re.compile(r"^v1\.0-trainval(-[0-9a-f]+)?/val$")
LEVEL_ROWS = {"easy": "easy", "moderate": "mid", "hard": "hard"}
#: Page names of result pages that score a LiDAR or fusion model (not ranked beside camera models).
NON_CAMERA = ("BEVFusion-LiDAR.md", "BEVFusion-Fusion.md", "TransFusion.md", "AutoAlignV2.md")
#: Agreement tolerances: a printed percentage has two decimals, a printed NDS four; the
#: per-level NDS behind a recomputed value are rounded to four decimals as well.
TOLERANCE = {"percent": 0.03, "nds": 0.0001}


def data_path(kind: str) -> Path:
    """Path of one shipped data file (``reference``, ``printed`` or ``check``)."""
    return Path(str(resources.files("leaderboard") / "data" / DATA_FILES[kind]))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_results_page(text: str) -> tuple[str, dict[Condition, tuple[float, float]]]:
    """A RoboBEV result page -> (model title, {condition: (NDS, mAP)}) as fractions.

    The title is the first level-2 heading after the metric definitions; ``Clean`` comes
    from the summary table, each level from the ``### <Corruption>`` sections' Easy,
    Moderate and Hard rows. A page without an NDS/mAP table (depth, occupancy) yields no
    conditions.
    """
    title, section, values = "", None, {}
    nds_col = map_col = None
    for line in text.splitlines():
        if line.startswith("## ") and not title and "Benchmark" not in line and "Log" not in line:
            title = line[3:].strip()
        elif line.startswith("### "):
            try:
                section = canonical_name(line[4:].strip())
            except ValueError:
                section = None
        elif line.startswith("|"):
            cells = _cells(line)
            names = [c.strip("*").lower() for c in cells]
            if "nds" in names and "map" in names:
                nds_col, map_col = names.index("nds"), names.index("map")
                continue
            if nds_col is None or len(cells) <= max(nds_col, map_col):
                continue
            nds, m_ap = _number(cells[nds_col]), _number(cells[map_col])
            if nds is None or m_ap is None:
                continue
            label = cells[0].lower()
            if label == "clean":
                values[Condition()] = (nds, m_ap)
            elif section is not None and label in LEVEL_ROWS:
                values[Condition(section, LEVEL_ROWS[label])] = (nds, m_ap)
    return title, values


def page_summary_means(text: str) -> dict[str, float]:
    """The per-corruption mean NDS in a result page's summary table (before its experiment log)."""
    head = text.split("## Experiment Log")[0]
    out: dict[str, float] = {}
    nds_col = None
    for line in head.splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        names = [c.strip("*").lower() for c in cells]
        if "nds" in names:
            nds_col = names.index("nds")
            continue
        if nds_col is None or len(cells) <= nds_col or _number(cells[nds_col]) is None:
            continue
        label = {"cam crash": "CameraCrash"}.get(cells[0].lower(), cells[0])
        try:
            out[canonical_name(label)] = float(cells[nds_col])
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class Printed:
    """One aggregate RoboBEV prints: ``metric`` is ``nds`` (clean), ``mean_nds:<C>``, ``rr:<C>``,
    ``ce:<C>``, ``mrr`` or ``mce``.
    """

    page: str
    table: str
    metric: str
    value: float


_LINK = re.compile(r"\]\((?:\./|\.\./)?(?:docs/)?results/([^)]+\.md)\)")


def _table_rows(text: str, header_has: Sequence[str]) -> Iterable[tuple[list[str], list[str]]]:
    """(header, row) pairs of every markdown table whose header holds all of ``header_has``."""
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            low = [c.lower() for c in cells]
            header = cells if all(any(h in c for c in low) for h in header_has) else []
            continue
        if header:
            yield header, cells


def _column_metric(name: str) -> str | None:
    low = name.lower()
    if low.startswith("mce"):
        return "mce"
    if low.startswith("mrr"):
        return "mrr"
    if low in ("nds", "clean"):
        return "nds"
    label = {"cam crash": "CameraCrash", "bright": "Brightness"}.get(low, name)
    try:
        return canonical_name(label)
    except ValueError:
        return None


def parse_printed(
    text: str,
    table_name: str,
    header_has: Sequence[str],
    per_corruption: str,
    clean_nds: dict[str, float] | None = None,
) -> list[Printed]:
    """Aggregates of one RoboBEV summary table; corruption columns are read as ``per_corruption:<C>``.

    A row belongs to the result page it links to, unless its clean NDS is another page's
    (RoboBEV links some rows to a sibling page): with ``clean_nds`` (page -> clean NDS) such a
    row goes to the one page with its NDS, and its table name says which page it links to.
    """
    out = []
    for header, row in _table_rows(text, header_has):
        link = _LINK.search(row[0]) if row else None
        if link is None:
            continue
        values = {}
        for name, cell in zip(header[1:], row[1:]):
            metric, value = _column_metric(name), _number(cell)
            if metric is None or value is None or metric in values:
                continue
            values[f"{per_corruption}:{metric}" if metric in CORRUPTIONS else metric] = value
        page, table = link.group(1), table_name
        nds = values.get("nds")
        if clean_nds and nds is not None and abs(clean_nds.get(page, -1.0) - nds) > TOLERANCE["nds"]:
            owners = [p for p, v in clean_nds.items() if abs(v - nds) <= TOLERANCE["nds"]]
            if len(owners) == 1:
                page, table = owners[0], f"{table_name} (row links to {link.group(1)})"
        out += [Printed(page, table, metric, value) for metric, value in values.items()]
    return out


def read_checkout(root: Path) -> tuple[list[dict[str, str]], list[Printed]]:
    """Reference records (``--import`` format) and printed aggregates from a RoboBEV checkout."""
    # DETR3D first: the leaderboard's default mCE baseline among reference rows is the first student
    pages = sorted((root / "docs" / "results").glob("*.md"), key=lambda p: (p.name != CE_BASELINE_PAGE, p.name))
    if not pages:
        raise UserError(f"no docs/results/*.md under {root}; pass the root of a RoboBEV checkout")
    records: list[dict[str, str]] = []
    printed: list[Printed] = []
    clean: dict[str, float] = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        title, values = parse_results_page(text)
        if Condition() not in values or len(values) < 2:
            continue  # the template, depth and occupancy pages
        clean[page.name] = values[Condition()][0]
        entry = f"{title} (RoboBEV)"
        source = f"RoboBEV docs/results/{page.name} @ {ROBOBEV_COMMIT[:7]}"
        role = "teacher" if page.name in NON_CAMERA else "student"
        for cond, (nds, m_ap) in sorted(values.items(), key=lambda kv: _order(kv[0])):
            for metric, value in (("nds", nds), ("map", m_ap)):
                records.append(
                    {
                        "entry": entry,
                        "source": source,
                        "role": role,
                        "dataset": DATASET,
                        "condition": str(cond),
                        "metric": metric,
                        "value": f"{100 * value:.2f}",
                    }
                )
        printed += [Printed(page.name, "page summary", f"mean_nds:{c}", v) for c, v in page_summary_means(text).items()]
    readme = (root / "README.md").read_text(encoding="utf-8")
    results = (root / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    printed += parse_printed(readme, "README.md results table", ("mce", "mrr", "clean"), "mean_nds", clean)
    printed += parse_printed(readme, "README.md model table", ("pretrain", "mce", "mrr"), "mean_nds", clean)
    printed += parse_printed(results, "docs/RESULTS.md CE table", ("mce",), "ce", clean)
    printed += parse_printed(results, "docs/RESULTS.md RR table", ("mrr",), "rr", clean)
    return records, printed


def _order(cond: Condition) -> tuple[int, int]:
    if cond.is_clean:
        return (-1, -1)
    return (CORRUPTIONS.index(cond.corruption), LEVELS.index(cond.level))


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def read_printed(path: Path | None = None) -> list[Printed]:
    """The shipped printed aggregates."""
    with open(path or data_path("printed"), encoding="utf-8", newline="") as fh:
        return [Printed(r["page"], r["table"], r["metric"], float(r["value"])) for r in csv.DictReader(fh)]


def page_levels(path: Path | None = None) -> dict[str, dict[Condition, float]]:
    """Per result page (``DETR3D.md``), the NDS per condition as fractions, from the shipped reference file."""
    out: dict[str, dict[Condition, float]] = {}
    with open(path or data_path("reference"), encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["metric"] == "nds":
                page = r["source"].split("docs/results/")[1].split(" ")[0]
                out.setdefault(page, {})[Condition.parse(r["condition"])] = float(r["value"]) / 100.0
    return out


@dataclass(frozen=True)
class Check:
    """A printed aggregate beside the recomputed one; ``status`` is ``agrees``, ``differs``
    or a reason it cannot be compared.
    """

    page: str
    table: str
    metric: str
    printed: float
    recomputed: float | None
    difference: float | None
    status: str


def _recompute(levels: dict[Condition, float], base: dict[Condition, float], metric: str) -> tuple[float | None, str]:
    """The value of ``metric`` from per-level NDS (percent, or NDS for ``nds``/``mean_nds``), or None and why not."""
    kind, _, corruption = metric.partition(":")
    if kind == "nds":
        return levels.get(Condition()), ""
    if corruption:
        have = [levels.get(Condition(corruption, lvl)) for lvl in LEVELS]
        if any(v is None for v in have):
            return None, f"{corruption} levels not published"
        if kind == "mean_nds":
            return sum(have) / len(have), ""
        if kind == "rr":
            return 100 * robustness.resilience_rate(levels, corruption=corruption), ""
        return 100 * robustness.corruption_error(levels, base, corruption=corruption), ""
    agg = robustness.mrr(levels, partial=True) if kind == "mrr" else robustness.mce(levels, base, partial=True)
    assert isinstance(agg, robustness.RobustnessAggregate)
    if agg.value is None:
        return None, "no corruption complete"
    note = "" if agg.complete else f"partial: mean over {len(agg.per_corruption)} of 8 corruptions"
    return 100 * agg.value, note


def check_printed(levels_by_page: dict[str, dict[Condition, float]], printed: Sequence[Printed]) -> list[Check]:
    """Compare every printed aggregate with the project's recomputation (module docstring)."""
    base = levels_by_page[CE_BASELINE_PAGE]
    out = []
    for p in printed:
        levels = levels_by_page.get(p.page)
        if levels is None:
            out.append(Check(p.page, p.table, p.metric, p.value, None, None, "no per-level numbers on a result page"))
            continue
        value, note = _recompute(levels, base, p.metric)
        if value is None:
            out.append(Check(p.page, p.table, p.metric, p.value, None, None, note))
            continue
        tol = TOLERANCE["nds" if p.metric.split(":")[0] in ("nds", "mean_nds") else "percent"]
        diff = p.value - value
        status = "agrees" if abs(diff) <= tol else "differs"
        out.append(
            Check(
                p.page,
                p.table,
                p.metric,
                p.value,
                round(value, 4),
                round(diff, 4),
                f"{status} ({note})" if note else status,
            )
        )
    return out


def write_check(path: Path | None = None) -> list[Check]:
    """Regenerate ``robobev_check.csv`` from the two shipped files; returns its rows."""
    checks = check_printed(page_levels(), read_printed())
    _write_csv(path or data_path("check"), [f.name for f in fields(Check)], (astuple(c) for c in checks))
    return checks


def build(root: Path) -> None:
    """Regenerate the three data files from a RoboBEV checkout."""
    records, printed = read_checkout(root)
    header = ["entry", "source", "role", "dataset", "condition", "metric", "value"]
    _write_csv(data_path("reference"), header, ([r[k] for k in header] for r in records))
    _write_csv(data_path("printed"), [f.name for f in fields(Printed)], (astuple(p) for p in printed))
    write_check()


def load_robobev() -> list:
    """RoboBEV's results as :class:`leaderboard.references.ReferenceEntry` objects."""
    from leaderboard.references import load_references

    return load_references(data_path("reference"))


def check_real_nuscenes(dataset_ids: Iterable[str]) -> None:
    """Refuse RoboBEV's rows beside anything but real nuScenes ``v1.0-trainval`` ``val`` results.

    RoboBEV scored the real validation split; a synthetic world's numbers on the same scale
    would be read as comparable, so its rows never appear on such a leaderboard.
    """
    ids = sorted(set(dataset_ids))
    other = [i for i in ids if not REAL_NUSCENES_VAL.match(i)]
    if not ids or other:
        raise UserError(
            f"--reference robobev shows RoboBEV's nuScenes val results only beside real nuScenes v1.0-trainval val "
            f"rows; this store holds {', '.join(other) or 'no rows'}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m leaderboard.robobev build ROBOBEV_DIR | check``."""
    parser = argparse.ArgumentParser(prog="python -m leaderboard.robobev", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="read a RoboBEV checkout and rewrite the three data files")
    b.add_argument("root", type=Path)
    sub.add_parser("check", help="rewrite robobev_check.csv from the shipped numbers")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        build(args.root)
    checks = write_check()
    differ = sum(c.status.startswith("differs") for c in checks)
    agree = sum(c.status.startswith("agrees") for c in checks)
    print(
        f"{agree} printed aggregates agree, {differ} differ, "
        f"{len(checks) - agree - differ} not comparable: {data_path('check')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
