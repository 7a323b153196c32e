"""``robobench entries`` (list registered methods) and ``robobench sweep`` (run the benchmark)."""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robobench.argtypes import at_least, checked_list, name_list, seed, seed_list
from robobench.conditions import CLEAN, Condition, all_conditions
from robobench.config import parse_overrides
from robobench.constants import DEFAULT_DATAROOT, DEFAULT_VERSION
from robobench.errors import UserError
from robobench.nuscenes_c import add_allow_damaged_argument
from robobench.metrics.robustness import TABLE_METRICS
from robobench.schema import ResultRow, TrainMode
from robobench.sweep import parse_condition, parse_train_mode
from robobench.train_cli import add_set_argument

DEFAULT_OUT = Path("runs")


def register(subparsers: Any) -> None:
    """Add the ``entries`` and ``sweep`` sub-commands."""
    p = subparsers.add_parser("entries", help="list registered method entries (built-in, plugins, --entry-file)")
    p.add_argument("pattern", nargs="?", default="*", help="glob on entry names, e.g. 'bevdepth*'")
    p.add_argument("--entry-file", action="append", default=[], metavar="F", help="a .py file registering entries")
    p.add_argument("--check", action="store_true", help="also build each entry's quick model and check the model contract")
    p.set_defaults(func=cmd_entries)

    s = subparsers.add_parser("sweep", help="train and evaluate entries under all conditions; resumable")
    s.add_argument("--entries", type=name_list("entry"), default=None, help="comma-separated entry names (default: all non-teacher built-ins)")
    s.add_argument("--entry-file", action="append", default=[], metavar="F", help="a .py file registering entries")
    s.add_argument("--train-modes", type=checked_list(parse_train_mode, "train mode"), default=[TrainMode.CLEAN.value],
                   help="clean,corrupted,heldout: corrupted trains on the eight test corruptions, heldout on "
                   "corruptions disjoint from them (default clean)")
    s.add_argument("--profile", default="quick", help="entry profile: quick | full | ... (default quick)")
    add_set_argument(s)
    s.add_argument("--seeds", type=seed_list, default=[0], help="comma-separated seeds in [0, 2**32) (default 0)")
    s.add_argument("--teacher-seed", type=seed, default=None, metavar="N",
                   help="train each teacher once with seed N and distil every student seed from it "
                        "(default: a teacher per student seed)")
    s.add_argument("--conditions", type=checked_list(parse_condition, "condition"), default=None,
                   help="e.g. clean,Fog:hard (default: clean + 24 corrupted)")
    s.add_argument("--executor", choices=("local", "ray"), default="local")
    s.add_argument("--workers", type=at_least(1), default=1, help="parallel cells with --executor local (default 1: in-process)")
    s.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local instance)")
    s.add_argument("--cpus-per-cell", type=at_least(0, float), default=1.0, help="CPUs each Ray task reserves (torch threads)")
    s.add_argument("--gpus-per-cell", type=at_least(0, float), default=0.0, help="GPUs each Ray task reserves")
    s.add_argument("--dataroot", type=Path, default=None, help=f"nuScenes-format root (default: {DEFAULT_DATAROOT})")
    s.add_argument("--version", default=DEFAULT_VERSION, help=f"devkit version folder (default {DEFAULT_VERSION})")
    s.add_argument("--split", default=None, help="evaluation split (default: synth_val / mini_val / val by version)")
    s.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for models, predictions, leaderboard")
    s.add_argument("--db", type=Path, default=None, help="results database (default OUT/results.sqlite)")
    s.add_argument("--ce-baseline", default="bevdet", help="entry whose NDS is the mCE denominator (default bevdet)")
    s.add_argument("--no-leaderboard", action="store_true", help="do not regenerate the leaderboard at the end")
    add_allow_damaged_argument(s)
    s.add_argument("--dry-run", action="store_true",
                   help="print the cells left to run and each model's folder (e.g. to train one with torchrun), run nothing")
    s.add_argument("--target-mde", type=float, default=None, metavar="EFFECT",
                   help="print how many seeds per entry a two-sided Welch test (5 %%, 80 %% power) needs to detect a "
                        "difference of EFFECT (a fraction: 0.03 is 3 NDS or mRR points) between two entries, from the "
                        "seed spread stored in the results database (or --target-sd), and stop without running anything")
    s.add_argument("--target-metric", choices=tuple(TABLE_METRICS), default="nds",
                   help="metric of --target-mde: clean NDS, mRR or the mean NDS over the corrupted conditions (default nds)")
    s.add_argument("--target-sd", type=float, default=None, metavar="SD",
                   help="with --target-mde: the seed standard deviation to plan for instead of the stored spread")
    s.set_defaults(func=cmd_sweep)




def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (header, rule, rows); ``None`` prints as ``-``."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def cmd_entries(args: argparse.Namespace) -> int:
    """Print the entries matching the pattern; with ``--check`` build each and check the contract."""
    from robobench.registry import check_builder, discover, list_entries

    discover(args.entry_file)
    entries = list_entries(args.pattern)
    if not entries:
        raise UserError(f"no entry matches {args.pattern!r}; run `robobench entries` to see all")
    print(format_table(
        ["name", "role", "base", "teacher", "paper"],
        [[e.name, e.role.value, e.base, e.teacher, e.paper or None] for e in entries],
    ))
    if args.check:
        for entry in entries:
            model = check_builder(entry, "quick" if "quick" in entry.profiles else next(iter(entry.profiles), "quick"))
            n_params = sum(p.numel() for p in model.parameters())
            print(f"ok  {entry.name}: {type(model).__name__}, {n_params} parameters")
    return 0


def dataset_id(dataroot: Path, version: str) -> str:
    """``<version>-<digest>`` of the table files' names and sizes and of the scene/sample/split tables.

    Content-based, so the same dataset has the same id on every machine (results
    exported from one machine line up with another's).
    """
    table_dir = Path(dataroot) / version
    if not table_dir.is_dir():
        raise UserError(f"no table folder {table_dir}; check --dataroot and --version")
    digest = hashlib.sha256()
    for path in sorted(table_dir.glob("*.json")):
        digest.update(f"{path.name}:{path.stat().st_size};".encode())
        if path.name in ("scene.json", "sample.json", "splits.json"):
            digest.update(path.read_bytes())
    return f"{version}-{digest.hexdigest()[:10]}"


def summary_rows(rows: Sequence[ResultRow], ce_baseline: str | None) -> list[list[Any]]:
    """One line per (entry, train mode): clean NDS/mAP, mRR and mCE, each the mean over seeds.

    mRR/mCE come from :mod:`robobench.metrics.robustness`; a value computed over fewer
    than the eight corruptions (conditions missing or failed) is marked with ``*``.
    """
    from robobench.metrics import robustness

    nds: dict[tuple[str, str], dict[int, dict[Condition, float]]] = defaultdict(lambda: defaultdict(dict))
    maps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r.status == "ok" and r.nds is not None:
            cond = Condition.parse(r.condition)
            nds[(r.entry, r.train_mode)][r.seed][cond] = r.nds
            if cond == CLEAN and r.map is not None:
                maps[(r.entry, r.train_mode)].append(r.map)
    out = []
    for (entry, mode), by_seed in sorted(nds.items()):
        base = nds.get((ce_baseline, mode)) if ce_baseline else None
        rr, ce, partial = [], [], False
        for seed, table in sorted(by_seed.items()):
            if CLEAN in table and table[CLEAN] > 0 and any(not c.is_clean for c in table):
                agg = robustness.mrr(table, partial=True)
                partial |= not agg.complete
                if agg.value is not None:
                    rr.append(agg.value)
            if base and seed in base:
                agg = robustness.mce(table, base[seed], partial=True)
                partial |= not agg.complete
                if agg.value is not None:
                    ce.append(agg.value)
        clean = [t[CLEAN] for t in by_seed.values() if CLEAN in t]
        mark = "*" if partial else ""
        out.append([
            entry, mode, len(by_seed), _fmt(clean), _fmt(maps.get((entry, mode), [])),
            _fmt([100 * v for v in rr], 2, mark), _fmt([100 * v for v in ce], 2, mark),
        ])
    return out


def _fmt(values: Sequence[float], digits: int = 4, mark: str = "") -> str | None:
    if not values:
        return None
    return f"{statistics.fmean(values):.{digits}f}{mark}"


def seed_values(rows: Sequence[ResultRow], metric: str) -> dict[tuple[str, str, str, str], dict[int, float]]:
    """Per (entry, train mode, dataset id, profile) and seed: ``metric`` of
    :data:`robobench.metrics.robustness.TABLE_METRICS` (clean NDS, mRR or the mean corrupted NDS).

    A seed lacking a condition the metric needs is left out; failed rows are ignored.
    """
    compute = TABLE_METRICS[metric]
    tables: dict[tuple[str, str, str, str], dict[int, dict[Condition, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.status == "ok" and r.nds is not None:
            tables[(r.entry, r.train_mode, r.dataset_id, r.profile)][r.seed][Condition.parse(r.condition)] = r.nds
    out: dict[tuple[str, str, str, str], dict[int, float]] = {}
    for key, by_seed in tables.items():
        values = {}
        for seed, table in by_seed.items():
            try:
                values[seed] = compute(table)
            except UserError:  # a condition missing, or a clean NDS of 0 under mRR
                continue
        if values:
            out[key] = values
    return out


def plan_seeds(args: argparse.Namespace, db: Path) -> int:
    """``--target-mde``: print the seeds per entry a Welch test needs to see the effect, from the stored seed spread."""
    from robobench import stats

    if not args.target_mde > 0:
        raise UserError(f"--target-mde {args.target_mde} must be a positive difference, e.g. 0.03 (3 points)")
    metric = args.target_metric
    if args.target_sd is not None:
        if not args.target_sd > 0:
            raise UserError(f"--target-sd {args.target_sd} must be a positive standard deviation, e.g. 0.011")
        sd, source = args.target_sd, "--target-sd"
    else:
        if not db.is_file():
            raise UserError(f"no results database {db} to take the seed spread from; pass --db or --target-sd")
        from robobench.store import ResultStore

        with ResultStore(db) as store:
            rows = store.rows(entry=args.entries, train_mode=args.train_modes, profile=args.profile)
        spread = {k: v for k, v in seed_values(rows, metric).items() if len(v) > 1}
        if not spread:
            raise UserError(f"no entry in {db} has two or more seeds of {metric} at profile {args.profile!r}"
                            f"{' among ' + ','.join(args.entries) if args.entries else ''}; pass --target-sd")
        print(format_table(["entry", "train", "dataset", "seeds", f"{metric} mean", f"{metric} sd"], [
            [e, m, d, len(v), f"{statistics.fmean(v.values()):.4f}", f"{statistics.stdev(v.values()):.4f}"]
            for (e, m, d, _), v in sorted(spread.items())]))
        # pooled over entries (weighted by degrees of freedom): one spread to plan every comparison with
        dof = sum(len(v) - 1 for v in spread.values())
        sd = (sum((len(v) - 1) * statistics.variance(v.values()) for v in spread.values()) / dof) ** 0.5
        source = f"pooled over {len(spread)} stored entr{'y' if len(spread) == 1 else 'ies'}"
    try:
        n = stats.seeds_for_mde(args.target_mde, sd)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"{metric}: seed sd {sd:.4f} ({source}); a difference of {args.target_mde:g} between two entries needs "
          f"{n} seeds per entry (two-sided Welch test at {stats.ALPHA:g}, power {stats.POWER:g}); "
          f"at the requested {len(args.seeds)} seed(s) the test sees "
          + (f"{stats.mde(sd, len(args.seeds)):.4f}" if len(args.seeds) > 1 else "nothing (one seed has no spread)"))
    print(f"rerun with --seeds {','.join(str(i) for i in range(n))} (and without --target-mde) to run them")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep from parsed arguments; exit 1 when any cell failed (``--target-mde``: plan seeds and stop)."""
    if args.target_mde is not None:
        return plan_seeds(args, args.db if args.db is not None else args.out / "results.sqlite")
    from tqdm import tqdm

    from robobench.registry import Role, check_builder, discover, get_entry, teacher_order
    from robobench.store import ResultStore, row_key
    from robobench.sweep import SweepContext, SweepRequest, run_cell, sweep
    from robobench.paths import output_dir, output_file
    from robobench.train import check_dataroot, default_split, entry_config

    discover(args.entry_file)
    names = args.entries or [e.name for e in discover() if e.role is not Role.TEACHER]
    overrides = parse_overrides(args.overrides)
    for name in teacher_order(names):  # fail before any work: every entry's config and model contract
        entry = get_entry(name)
        entry_config(entry, args.profile, overrides)
        check_builder(entry, args.profile, overrides)
    dataroot = check_dataroot(args.dataroot if args.dataroot is not None else DEFAULT_DATAROOT, args.version)
    split = args.split or default_split(args.version, "val")
    out = output_dir(args.out, dataroots=[dataroot])
    db = output_file(args.db if args.db is not None else out / "results.sqlite", "--db", dataroots=[dataroot])
    request = SweepRequest(
        entries=names, train_modes=args.train_modes, seeds=args.seeds,
        conditions=args.conditions or [str(c) for c in all_conditions()], profile=args.profile,
        overrides=overrides,
        executor=args.executor, workers=args.workers, ray_address=args.ray_address,
        cpus_per_cell=args.cpus_per_cell, gpus_per_cell=args.gpus_per_cell, teacher_seed=args.teacher_seed,
    )
    ctx = SweepContext(
        dataroot=Path(dataroot), version=args.version, out=out, split=split,
        entry_files=tuple(str(Path(f).resolve()) for f in args.entry_file),
        threads=_threads_per_cell(args), allow_damaged_images=args.allow_damaged_images,
    )
    if not args.dry_run:
        check_eval_images(Path(dataroot), args.version, split, args.allow_damaged_images)
    # A dry run writes nothing: without a database yet, nothing is done and every cell is left.
    store = ResultStore(db) if not args.dry_run or db.is_file() else None
    if store is not None:
        store.check()  # a bad stored row fails here, not after hours of training
    bar: list[Any] = []

    def on_plan(planned: list, todo: list) -> None:
        n_eval = sum(c.kind == "eval" for c in planned)
        print(f"{len(planned)} cells planned ({n_eval} evaluations); {len(todo)} to run, "
              f"{len(planned) - len(todo)} already done or not needed; results in {db}")
        if args.dry_run:
            print(format_table(["cell", "model folder"], [[c.id, c.model_dir] for c in todo]))
        else:
            bar.append(tqdm(total=len(todo), unit="cell", dynamic_ncols=True, file=sys.stderr))

    def on_done(outcome: Any) -> None:
        pbar = bar[0]
        cell = outcome.cell
        detail = f"NDS {outcome.result['nds']:.4f}" if outcome.status == "ok" and cell.kind == "eval" else ""
        if outcome.status != "ok":
            detail = (outcome.error or "").splitlines()[0]
        pbar.write(f"[{outcome.status:6s}] {cell.id} ({outcome.wall_time:.1f}s) {detail}".rstrip())
        pbar.set_postfix_str(cell.id)
        pbar.update(1)

    report = sweep(
        request, ctx, store, dataset_id=dataset_id(Path(dataroot), args.version), fn=run_cell,
        on_plan=on_plan, on_done=on_done, dry_run=args.dry_run,
    )
    if args.dry_run:
        return 0
    if bar:
        bar[0].close()
    keys = {c.key for c in report.planned if c.kind == "eval"}
    rows = [r for r in store.rows(entry=sorted({k[0] for k in keys})) if row_key(r) in keys] if keys else []
    print(format_table(["entry", "train", "seeds", "NDS", "mAP", "mRR %", f"mCE % (vs {args.ce_baseline})"],
                       summary_rows(rows, args.ce_baseline)))
    if not args.no_leaderboard:
        _render_leaderboard(store, out / "leaderboard", args.ce_baseline)
    failed = report.failed
    if failed:
        print(f"{len(failed)} cell(s) failed; their errors are in {db} (status 'failed'); rerun to retry them",
              file=sys.stderr)
        return 1
    return 0


def check_eval_images(dataroot: Path, version: str, split: str, allow_damaged: bool) -> int:
    """Damaged images of the evaluation split stop a sweep before any training, not at its first
    evaluation hours later (each evaluation checks its images again); returns their count."""
    from robobench.data.dataset import BEVDataset
    from robobench.data.index import load_index
    from robobench.nuscenes_c import check_images

    images = BEVDataset(load_index(dataroot, version), split).image_paths()
    return check_images(images, f"{dataroot} (split {split!r})", allow_damaged)


def _threads_per_cell(args: argparse.Namespace) -> int:
    """Torch threads per cell: the CPUs a Ray task reserves, or this machine's CPUs shared by the
    local workers (0 = torch's default, for one in-process worker)."""
    import os

    if args.executor == "ray":
        return max(1, int(args.cpus_per_cell))
    if args.workers == 1:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // args.workers)


def _render_leaderboard(store: Any, out_dir: Path, baseline: str | None) -> None:
    """Regenerate the HTML leaderboard from the whole store (``leaderboard`` is imported lazily)."""
    try:
        from leaderboard import render_store
    except ImportError:
        print("leaderboard package not installed; skipped the HTML leaderboard", file=sys.stderr)
        return
    if baseline is not None and store.count(entry=baseline, status="ok") == 0:
        baseline = None  # no numbers for the mCE baseline: the leaderboard shows no mCE
    print(f"leaderboard: {render_store(store, out_dir, baseline=baseline)}")
