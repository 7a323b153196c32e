"""README's generated numbers: the status table and the sentences that quote measured runs.

A results notebook kept by hand drifts from the files behind it. Here every number README quotes
about the shipped runs is computed from ``reference-results/``: the exports are imported into a
throwaway store through the store's own validation (:meth:`robobench.store.ResultStore.import_payloads`),
each entry's seeds are scored with the project's metrics (clean NDS, mRR and the mean corrupted NDS
of :data:`robobench.metrics.robustness.TABLE_METRICS`, the devkit's mAP and TP errors, depth AbsRel,
the training wall time) and compared with :mod:`robobench.stats` (Welch's p, the MDE). The
sentences are jinja2 templates in ``docs/readme/``; each ``docs/readme/NAME.md.j2`` fills README's
block between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``::

    python -m robobench.docs_tables            # rewrite README.md's generated blocks (make readme-status)
    python -m robobench.docs_tables --check    # exit 1 when README and the files disagree

Spreads are sample standard deviations over seeds (``ddof=1``); percentages are mRR times 100.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
import tempfile
import textwrap
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from corruptions.spec import CORRUPTIONS
from robobench import stats
from robobench.conditions import Condition
from robobench.data.dataset import EVAL_CACHE_DEFAULT_MB
from robobench.errors import UserError
from robobench.io import atomic_write
from robobench.metrics.robustness import TABLE_METRICS, resilience_rates
from robobench.schema import ResultRow
from robobench.store import ResultStore, read_export

#: The checkout this module belongs to: README.md, docs/readme/ and reference-results/ are read from here.
ROOT = Path(__file__).resolve().parents[1]
#: The folder of result exports README's status section describes.
RESULTS = Path("reference-results") / "synth-default-full"
#: The same world and profile trained in bfloat16 (``train.precision``), kept apart from the float32 seeds.
BF16_RESULTS = Path("reference-results") / "synth-default-full-bf16"
TEMPLATES = Path("docs") / "readme"
#: Measurements that are not result rows (speed, fidelity, variance), one JSON file each.
MEASUREMENTS = Path("docs") / "measurements"
#: README's prose width in columns.
WIDTH = 100
#: A space the filters write inside one number (``0.343 +- 0.011``, ``62.3 %``) so that :func:`rewrap`
#: never breaks a line there; it becomes a plain space after wrapping.
GLUE = "\x1f"


@dataclass(frozen=True)
class Series:
    """One number per training seed (seed order), with the summaries README prints."""

    values: Sequence[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float | None:
        """Sample standard deviation over seeds; ``None`` for a single seed."""
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)


@dataclass
class EntryRuns:
    """An entry's measured seeds: per-seed metrics and each seed's clean results row.

    A template reads a metric as ``runs.nds`` (jinja2 falls back to ``runs["nds"]``).
    """

    name: str
    metrics: dict[str, Series] = field(default_factory=dict)
    clean: dict[int, ResultRow] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> Series:
        return self.metrics[metric]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.clean)

    def seed(self, seed: int, metric: str) -> float:
        """``metric`` of one seed (the value at that seed's position in :attr:`seeds`)."""
        return self.metrics[metric].values[self.seeds.index(seed)]

    def ap(self, cls: str, seed: int = 0, threshold: str | None = None) -> float:
        """Clean AP of ``cls`` for one seed: the mean over the four distance thresholds, or at ``threshold`` (m)."""
        entry = self.clean[seed].per_class[cls]
        return entry["ap_mean"] if threshold is None else entry["ap"][threshold]

    def aps(self, classes: Sequence[str], seed: int = 0, threshold: str | None = None) -> Series:
        """:meth:`ap` of several classes, to print their range."""
        return Series(tuple(self.ap(c, seed, threshold) for c in classes))

    def class_error(self, key: str, seed: int = 0) -> Series:
        """A TP error of every class that has one (``trans_err``, ``vel_err``, ...) for one seed."""
        values = [v[key] for v in self.clean[seed].per_class.values() if v.get(key) is not None]
        return Series(tuple(values))


def _seed_metrics(rows: Sequence[ResultRow]) -> dict[str, float]:
    """One model's numbers from its rows: clean NDS/mAP/TP errors/depth AbsRel and, when every corrupted
    condition is there, mRR, the mean corrupted NDS, each corruption's RR (``rr_Fog``, ...) and the
    minutes its evaluation cells took (``eval_minutes``, when every row records its time)."""
    table = {Condition.parse(r.condition): r.nds for r in rows}
    clean = next(r for r in rows if r.condition == str(Condition()))
    out = {name: getattr(clean, name) for name in ("nds", "map", "mate", "mave") if getattr(clean, name) is not None}
    if clean.depth:
        out["abs_rel"] = clean.depth["all"]["abs_rel"]
    if len(table) > 1:
        out.update({name: TABLE_METRICS[name](table) for name in ("mrr", "corr_nds")})
        if all(r.wall_time for r in rows):
            out["eval_minutes"] = sum(r.wall_time for r in rows) / 60.0
        out.update({f"rr_{name}": rr for name, rr in resilience_rates(table).items()})
    return out


def run_key(entry: str, train_mode: str) -> str:
    """The name a template reads a model line by: the entry for clean training (``e.bevdet``), the entry
    and its train mode otherwise (``e["bevdet:heldout"]``), so that a corrupted-trained seed is never
    pooled with the clean-trained seeds of the same entry."""
    return entry if train_mode == "clean" else f"{entry}:{train_mode}"


def load_runs(folder: Path) -> dict[str, EntryRuns]:
    """Every (entry, train mode) of the exports in ``folder``, its seeds scored as README reports them."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise UserError(f"no result exports (*.json) in {folder}; README's status needs reference-results/")
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "reference.sqlite") as store:
        store.import_payloads([(read_export(p), p) for p in files])
        rows, trainings = [r for r in store.rows() if r.status == "ok"], store.trainings()
    by_model: dict[str, dict[int, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_model[run_key(r.entry, r.train_mode)][r.seed].append(r)
    minutes = {
        (run_key(t.entry, t.train_mode), t.seed): {"minutes": t.wall_time_s / 60.0} for t in trainings if t.wall_time_s
    }
    runs = {}
    for name, seeds in sorted(by_model.items()):
        per_seed = {s: {**_seed_metrics(seeds[s]), **minutes.get((name, s), {})} for s in sorted(seeds)}
        common = set.intersection(*(set(m) for m in per_seed.values()))
        runs[name] = EntryRuns(
            name,
            {k: Series(tuple(m[k] for m in per_seed.values())) for k in sorted(common)},
            {s: next(r for r in seeds[s] if r.condition == str(Condition())) for s in sorted(seeds)},
        )
    return runs


def welch_p(a: Series, b: Series) -> float:
    """Two-sided p of Welch's t-test between two entries' seeds (:func:`robobench.stats.welch`)."""
    return stats.welch(a.values, b.values).p


def mde(a: Series, b: Series) -> float:
    """Smallest true difference Welch's test at 5 % sees with 80 % power at these seed counts and spreads."""
    return stats.mde(a.sd, a.n, b.sd, b.n)


# -- formatting, as jinja2 filters ------------------------------------------------------------


def fixed(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def pm(series: Series, digits: int = 3, scale: float = 1.0) -> str:
    """``mean +- sd`` over seeds, or the single seed's value."""
    text = fixed(series.mean * scale, digits)
    return text if series.sd is None else f"{text}{GLUE}+-{GLUE}{fixed(series.sd * scale, digits)}"


def pct(series: Series) -> str:
    """A fraction over seeds in percent with one decimal (mRR as papers print it)."""
    return f"{pm(series, 1, 100.0)}{GLUE}%"


def span(series: Series, digits: int = 3) -> str:
    """``min-max`` over seeds (or classes), one value when they agree at this precision."""
    lo, hi = fixed(series.lo, digits), fixed(series.hi, digits)
    return lo if lo == hi else f"{lo}-{hi}"


def p_value(p: float) -> str:
    """A p-value as README prints it: ``p = `` two decimals, ``p < 0.001`` below that."""
    return f"p{GLUE}<{GLUE}0.001" if p < 0.001 else f"p{GLUE}={GLUE}{p:.2f}"


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (image statistics of very different scales)."""
    return f"{value:.{digits}g}"


FILTERS: dict[str, Callable[..., str]] = {
    "f": fixed,
    "pm": pm,
    "pct": pct,
    "span": span,
    "p": p_value,
    "g": significant,
}


def render_blocks(root: Path = ROOT) -> dict[str, str]:
    """Block name -> generated Markdown, one per template in ``docs/readme/``."""
    folder = root / TEMPLATES
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    context = {
        "e": load_runs(root / RESULTS),
        "results": RESULTS.as_posix(),
        "bf16": load_runs(root / BF16_RESULTS),
        "bf16_results": BF16_RESULTS.as_posix(),
        "welch_p": welch_p,
        "mde": mde,
        "Series": Series,
        "corruptions": CORRUPTIONS,
        "m": load_measurements(root / MEASUREMENTS),
        "cache_mb": EVAL_CACHE_DEFAULT_MB,
    }
    names = sorted(p.name.removesuffix(".md.j2") for p in folder.glob("*.md.j2"))
    if not names:
        raise UserError(f"no templates (*.md.j2) in {folder}")
    return {name: rewrap(env.get_template(f"{name}.md.j2").render(context)) for name in names}


def load_measurements(folder: Path) -> dict[str, Any]:
    """``docs/measurements/NAME.json`` by ``NAME`` (plain JSON data; a file that is not is a UserError)."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"measurement file {path} cannot be read as JSON ({exc}); restore it from git") from None
    return out


def rewrap(markdown: str, width: int = WIDTH) -> str:
    """Fill each prose paragraph of ``markdown`` to ``width`` columns, so that a template's line breaks
    need not follow the length of the numbers it prints; tables (lines starting with ``|``) stay as written."""
    paragraphs = markdown.strip("\n").split("\n\n")
    filled = [
        p
        if p.lstrip().startswith("|")
        else textwrap.fill(
            " ".join(re.split(r"[ \t\n]+", p.strip())), width, break_long_words=False, break_on_hyphens=False
        )
        for p in paragraphs
    ]
    return ("\n\n".join(filled) + "\n").replace(GLUE, " ")


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {re.escape(name)}:begin -->\n)(.*?)(<!-- {re.escape(name)}:end -->)", re.DOTALL)


def fill(readme: str, blocks: dict[str, str], where: str = "README.md") -> str:
    """``readme`` with each named block's content replaced by its generated text."""
    for name, text in blocks.items():
        pattern = _block(name)
        if len(pattern.findall(readme)) != 1:
            raise UserError(
                f"{where} needs exactly one '<!-- {name}:begin -->' ... '<!-- {name}:end -->' block; "
                "add the markers where the generated text belongs"
            )
        readme = pattern.sub(lambda m, t=text: m.group(1) + t + m.group(3), readme)
    return readme


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite README's generated blocks, or with ``--check`` report whether they are current (exit 1 if not)."""
    parser = argparse.ArgumentParser(prog="python -m robobench.docs_tables", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the checkout (README.md, docs/readme/, reference-results/)"
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README differs from the files")
    args = parser.parse_args(argv)
    readme_path = args.root / "README.md"
    try:
        current = readme_path.read_text(encoding="utf-8")
        wanted = fill(current, render_blocks(args.root), str(readme_path))
    except (UserError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if current == wanted:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(), wanted.splitlines(), "README.md", "generated", lineterm="", n=0
        )
        print("\n".join(diff), file=sys.stderr)
        print("README.md's generated blocks differ from reference-results/: run `make readme-status`", file=sys.stderr)
        return 1
    if current != wanted:
        with atomic_write(readme_path) as fh:
            fh.write(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
