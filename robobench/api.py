"""The library API: every ``robobench`` command is a thin wrapper around one function here.

In the spirit of RobustBench's ``benchmark()`` and the devkit's ``DetectionEval``: the functions take
typed arguments, check them, do the work and return result objects; they print nothing (progress
goes through optional callbacks, bad input raises :class:`robobench.errors.UserError`). Use them
from a notebook or a script::

    import robobench

    result = robobench.run_benchmark(["bevdet", "bevdepth"], profile="quick", dataroot="data/synth-default",
                                     seeds=[0, 1], out="runs")
    for line in result.summary():          # the leaderboard's own numbers
        print(line.entry, line.nds.mean, line.mce.mean)
    robobench.render_leaderboard("runs/results.sqlite", "runs/leaderboard")

``robobench`` re-exports these names lazily (importing it loads nothing of the engine). This module
sits above the core and the leaderboard and below the commands (``tests/project/test_layers.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robobench.constants import DEFAULT_DATAROOT, DEFAULT_VERSION
from robobench.errors import UserError
from robobench.schema import EntryRecord, ResultRow, TrainMode

if TYPE_CHECKING:
    from leaderboard.model import Board
    from leaderboard.summary import SummaryLine
    from robobench.predict import PredictionOutput
    from robobench.registry import Entry
    from robobench.seedplan import SeedPlan
    from robobench.sweep import Cell, CellOutcome, SweepContext, SweepRequest

PathLike = str | os.PathLike
#: ``--set``-style overrides: a nested dict, or ``"key.path=VALUE"`` strings (VALUE parsed as JSON).
Overrides = Mapping[str, Any] | Sequence[str] | None

#: Where :func:`run_benchmark` writes models, predictions and the leaderboard by default.
DEFAULT_OUT = Path("runs")
#: The mCE baseline entry of a sweep when none is named.
DEFAULT_CE_BASELINE = "bevdet"


def _overrides(overrides: Overrides) -> dict[str, Any]:
    from robobench.config import parse_overrides

    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    return parse_overrides(list(overrides))


# -- entries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryCheck:
    """An entry whose quick model was built and passed the model contract."""

    name: str
    model: str
    parameters: int


def list_entries(pattern: str = "*", entry_files: Iterable[PathLike] = ()) -> list[Entry]:
    """The registered entries (built-ins, installed plugins, ``entry_files``) whose name matches the glob."""
    from robobench import registry

    registry.discover([str(f) for f in entry_files])
    entries = registry.list_entries(pattern)
    if not entries:
        raise UserError(f"no entry matches {pattern!r}; run `robobench entries` to see all")
    return entries


def check_entries(entries: Iterable[Entry]) -> list[EntryCheck]:
    """Build each entry's quick model (or its first profile's) and check the model contract."""
    from robobench.registry import check_builder

    out = []
    for entry in entries:
        model = check_builder(entry, "quick" if "quick" in entry.profiles else next(iter(entry.profiles), "quick"))
        out.append(EntryCheck(entry.name, type(model).__name__, sum(p.numel() for p in model.parameters())))
    return out


# -- the benchmark ---------------------------------------------------------------------------


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` did.

    ``planned`` are every cell of the request, ``todo`` those that were left to run (a dry run
    stops there), ``ran`` the outcome of each cell run. ``board`` is the leaderboard model of the
    whole results database (None on a dry run), ``leaderboard`` the index it was rendered to.
    """

    db: Path
    out: Path
    dataset_id: str
    profile: str
    entries: list[str]
    planned: list[Cell]
    todo: list[Cell]
    ran: list[CellOutcome] = field(default_factory=list)
    board: Board | None = None
    leaderboard: Path | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.ran if o.status != "ok"]

    @property
    def ce_baseline(self) -> str | None:
        """The entry mCE was measured against (None: no baseline with results)."""
        return self.board.baseline.entry if self.board is not None and self.board.baseline is not None else None

    def checkpoint(self, entry: str, seed: int = 0, train_mode: str = TrainMode.CLEAN.value) -> Path:
        """The final checkpoint of one model this benchmark trained (for :func:`predict_results`)."""
        from robobench.train import FINAL_CKPT

        for cell in self.planned:
            if cell.kind == "train" and (cell.entry, cell.seed, cell.train_mode) == (entry, seed, train_mode):
                return cell.model_dir / FINAL_CKPT
        raise UserError(f"this benchmark trained no {entry!r} with seed {seed} in train mode {train_mode!r}")

    def summary(self) -> list[SummaryLine]:
        """The board's lines of what this benchmark evaluated (its entries and train modes on its evaluation
        split and profile): the same NDS, mAP, mRR and mCE the leaderboard shows."""
        from leaderboard.summary import summary_lines

        if self.board is None:
            return []
        return summary_lines(
            self.board, {(c.entry, c.train_mode, c.dataset_id, self.profile) for c in self.planned if c.kind == "eval"}
        )


def run_benchmark(
    entries: Sequence[str] | None = None,
    *,
    profile: str = "quick",
    dataroot: PathLike | None = None,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    out: PathLike = DEFAULT_OUT,
    db: PathLike | None = None,
    seeds: Sequence[int] = (0,),
    train_modes: Sequence[str] = (TrainMode.CLEAN.value,),
    conditions: Sequence[str] | None = None,
    teacher_seed: int | None = None,
    overrides: Overrides = None,
    entry_files: Iterable[PathLike] = (),
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float = 0.0,
    ce_baseline: str | None = DEFAULT_CE_BASELINE,
    leaderboard: bool = True,
    allow_damaged_images: bool = False,
    dry_run: bool = False,
    on_plan: Callable[[list[Cell], list[Cell]], None] | None = None,
    on_done: Callable[[CellOutcome], None] | None = None,
) -> BenchmarkResult:
    """Train each entry per train mode and seed, evaluate it on every condition, store the rows; resumable.

    ``entries`` default to every registered non-teacher entry; a distillation entry's teacher is
    trained first. ``conditions`` default to clean and the 24 corrupted conditions. Results go to
    ``db`` (default ``out/results.sqlite``), keyed so that a rerun does only what is missing.
    Every entry's configuration and model contract is checked before any work. ``on_plan(planned,
    todo)`` and ``on_done(outcome)`` report progress. With ``leaderboard`` the HTML leaderboard of the
    whole database is rendered to ``out/leaderboard``, from the same board :meth:`BenchmarkResult.summary`
    reads; mCE is measured against ``ce_baseline`` when it has results.
    """
    from robobench.conditions import all_conditions
    from robobench.sweep import SweepContext, SweepRequest, threads_per_cell

    files = [str(f) for f in entry_files]
    merged = _overrides(overrides)
    names = _checked_entries(entries, files, profile, merged)
    root, split, out_dir, db_path = _benchmark_paths(dataroot, version, split, out, db)
    request = SweepRequest(
        entries=names,
        train_modes=list(train_modes),
        seeds=list(seeds),
        conditions=list(conditions) if conditions else [str(c) for c in all_conditions()],
        profile=profile,
        overrides=merged,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        cpus_per_cell=cpus_per_cell,
        gpus_per_cell=gpus_per_cell,
        teacher_seed=teacher_seed,
    )
    ctx = SweepContext(
        dataroot=root,
        version=version,
        out=out_dir,
        split=split,
        entry_files=tuple(str(Path(f).resolve()) for f in files),
        threads=threads_per_cell(executor, workers, cpus_per_cell),
        allow_damaged_images=allow_damaged_images,
    )
    result, store = _sweep_into(request, ctx, db_path, dry_run, on_plan, on_done)
    if not dry_run:
        _show(result, store, ce_baseline, leaderboard)
    return result


def _benchmark_paths(
    dataroot: PathLike | None, version: str, split: str | None, out: PathLike, db: PathLike | None
) -> tuple[Path, str, Path, Path]:
    """The checked dataroot, the eval split, the output folder and the results database of a benchmark
    (``UserError`` for a missing dataset, or outputs inside a dataroot)."""
    from robobench.paths import output_dir, output_file
    from robobench.train import check_dataroot, default_split

    root = check_dataroot(dataroot if dataroot is not None else DEFAULT_DATAROOT, version)
    split = split or default_split(version, "val")
    out_dir = output_dir(out, dataroots=[root])
    db_path = output_file(db if db is not None else out_dir / "results.sqlite", "--db", dataroots=[root])
    return Path(root), split, out_dir, db_path


def _sweep_into(
    request: SweepRequest,
    ctx: SweepContext,
    db_path: Path,
    dry_run: bool,
    on_plan: Callable[[list[Cell], list[Cell]], None] | None,
    on_done: Callable[[CellOutcome], None] | None,
) -> tuple[BenchmarkResult, Any]:
    """Run the sweep ``request`` in ``ctx`` into the database ``db_path``, after checking the eval
    images and the stored rows (a bad one fails here, not after hours of training); return the
    result and the open store (``None`` for a dry run without a database)."""
    from robobench.nuscenes_c import check_eval_images
    from robobench.store import ResultStore
    from robobench.sweep import dataset_id, run_cell, sweep

    if not dry_run:
        check_eval_images(ctx.dataroot, ctx.version, ctx.split, ctx.allow_damaged_images)
    # A dry run writes nothing: without a database yet, nothing is done and every cell is left.
    store = ResultStore(db_path) if not dry_run or db_path.is_file() else None
    if store is not None:
        store.check()
    data_id = dataset_id(ctx.dataroot, ctx.version)
    report = sweep(
        request,
        ctx,
        store,
        dataset_id=data_id,
        fn=run_cell,
        on_plan=on_plan or (lambda p, t: None),
        on_done=on_done or (lambda o: None),
        dry_run=dry_run,
    )
    result = BenchmarkResult(
        db_path, ctx.out, data_id, request.profile, request.entries, report.planned, report.todo, report.ran
    )
    return result, store


def _checked_entries(
    entries: Sequence[str] | None, entry_files: list[str], profile: str, overrides: dict[str, Any]
) -> list[str]:
    """The entries to sweep (default: every registered non-teacher), each with its teachers' config and
    model contract checked: a sweep fails here, before any work, not hours into training."""
    from robobench.registry import Role, check_builder, discover, get_entry, teacher_order
    from robobench.train import entry_config

    discover(entry_files)
    names = list(entries) if entries else [e.name for e in discover() if e.role is not Role.TEACHER]
    for name in teacher_order(names):
        entry = get_entry(name)
        entry_config(entry, profile, overrides)
        check_builder(entry, profile, overrides)
    return names


def _show(result: BenchmarkResult, store: Any, ce_baseline: str | None, leaderboard: bool) -> None:
    """Build the board of the whole store into ``result`` and render it (``leaderboard``) to ``out/leaderboard``."""
    from leaderboard.render import store_board, write_board

    if ce_baseline is not None and store.count(entry=ce_baseline, status="ok") == 0:
        ce_baseline = None  # no numbers for the mCE baseline: no mCE
    result.board = store_board(store, baseline=ce_baseline)
    if leaderboard:
        result.leaderboard = write_board(result.board, result.out / "leaderboard")


def plan_seeds(
    effect: float,
    *,
    db: PathLike | None = None,
    metric: str = "nds",
    seeds: int = 1,
    sd: float | None = None,
    entries: Sequence[str] | None = None,
    train_modes: Sequence[str] | None = None,
    profile: str = "quick",
) -> SeedPlan:
    """Seeds per entry that a two-sided Welch test needs to detect ``effect`` in ``metric``, from the seed
    spread of ``entries`` stored in ``db`` (or ``sd``), and what ``seeds`` seeds detect. Runs nothing."""
    from robobench.seedplan import plan_seeds as plan
    from robobench.store import ResultStore

    if sd is not None:
        return plan(effect, metric, seeds, sd=sd)
    if db is None or not Path(db).is_file():
        raise UserError(f"no results database {db} to take the seed spread from; pass --db or --target-sd")
    with ResultStore(db) as store:
        rows = store.rows(
            entry=list(entries) if entries else None,
            train_mode=list(train_modes) if train_modes else None,
            profile=profile,
        )
    where = f"{db} at profile {profile!r}" + (f" among {','.join(entries)}" if entries else "")
    return plan(effect, metric, seeds, rows=rows, where=where)


# -- one model -------------------------------------------------------------------------------


def train_model(
    entry: str,
    *,
    profile: str = "quick",
    train_mode: str = TrainMode.CLEAN.value,
    seed: int = 0,
    dataroot: PathLike = DEFAULT_DATAROOT,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    out: PathLike | None = None,
    resume: bool = False,
    overrides: Overrides = None,
    device: str | None = None,
    progress: bool = True,
    entry_files: Iterable[PathLike] = (),
) -> Path:
    """Train one entry (checkpoints in ``out``, default ``runs/<entry>-<profile>-<mode>-s<seed>``);
    returns the final checkpoint's path. ``resume`` continues from ``out/last.pt``."""
    from robobench.paths import output_dir
    from robobench.registry import discover
    from robobench.train import train_entry

    discover([str(f) for f in entry_files])
    if out is not None:
        output_dir(out, dataroots=[dataroot])
    return Path(
        train_entry(
            entry,
            profile,
            train_mode,
            seed,
            dataroot=dataroot,
            version=version,
            split=split,
            out_dir=out,
            resume=resume,
            overrides=_overrides(overrides),
            device=device,
            progress=progress,
        )
    )


def predict_results(
    entry: str,
    checkpoint: PathLike,
    condition: str = "clean",
    *,
    dataroot: PathLike = DEFAULT_DATAROOT,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    out: PathLike = "results.json",
    seed: int = 0,
    corrupt_root: PathLike | None = None,
    batch_size: int | None = None,
    workers: int = 0,
    precision: str | None = None,
    device: str | None = None,
    progress: bool = True,
    allow_damaged_images: bool = False,
    entry_files: Iterable[PathLike] = (),
) -> PredictionOutput:
    """Run a trained entry on ``split`` under ``condition`` and write the nuScenes results JSON ``out``."""
    from robobench.paths import output_file
    from robobench.predict import predict as run_predict
    from robobench.registry import discover

    discover([str(f) for f in entry_files])
    output_file(out, dataroots=[dataroot, corrupt_root])
    return run_predict(
        entry,
        checkpoint,
        condition,
        dataroot,
        version,
        split,
        out,
        seed=seed,
        corrupt_root=corrupt_root,
        num_workers=workers,
        **({"batch_size": batch_size} if batch_size else {}),
        device=device,
        precision=precision,
        progress=progress,
        allow_damaged_images=allow_damaged_images,
    )


# -- scoring ---------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What :func:`evaluate_results` scored: one row per condition, the RR/mRR/mCE summary (when
    ``out`` or ``summary`` was asked for), the summary file written under ``out`` and the rows stored."""

    rows: list[ResultRow]
    summary: dict[str, Any] | None = None
    summary_path: Path | None = None
    stored: int = 0


def evaluate_results(
    results: PathLike,
    *,
    dataroot: PathLike = DEFAULT_DATAROOT,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    conditions: Sequence[str] | None = None,
    db: PathLike | None = None,
    entry: str | None = None,
    role: str | None = None,
    base: str | None = None,
    teacher: str | None = None,
    paper: str = "",
    train_mode: str = TrainMode.CLEAN.value,
    seed: int = 0,
    dataset_id: str | None = None,
    config_hash: str = "external",
    out: PathLike | None = None,
    summary: bool = False,
    ce_baseline: str | None = None,
    bootstrap: int | None = None,
) -> Evaluation:
    """Score nuScenes results JSON files (a file, or a folder of ``clean.json``, ``Fog_hard.json``, ...)
    with NDS, mAP and the TP errors, as the devkit's ``DetectionEval``.

    ``db`` adds the rows to a results database under ``entry`` (default: the results path's name)
    with its leaderboard metadata (``role``, default student, ``base``, ``teacher``, ``paper``); an
    entry the database already knows keeps its record unless ``role`` is given. ``out`` writes the
    devkit's metrics files per condition and ``summary.json``; ``ce_baseline`` names the entry in
    ``db`` whose mean NDS over seeds on the same dataset id is the CE/mCE denominator.
    """
    from robobench.constants import BOOTSTRAP_REPLICATES
    from robobench.data.nusc import open_nuscenes
    from robobench.evaluate import evaluate_files, find_results_files
    from robobench.evaluate_output import EvaluationOutput, evaluation_summary
    from robobench.metrics.detection import DetectionEvaluator
    from robobench.paths import output_file
    from robobench.train import default_split

    if db is not None:
        output_file(db, "--db", dataroots=[dataroot])
    files = find_results_files(results, conditions)
    split = split or default_split(version, "val")
    evaluator = DetectionEvaluator(open_nuscenes(dataroot, version), split)
    name = entry or Path(results).stem
    data_id = dataset_id or f"{version}/{split}"
    base_nds = _ce_baseline_nds(db, ce_baseline, data_id)
    output = EvaluationOutput(out) if out is not None else None
    rows = evaluate_files(
        evaluator,
        files,
        entry=name,
        train_mode=train_mode,
        seed=seed,
        dataset_id=data_id,
        config_hash=config_hash,
        on_result=output.add if output else None,
        bootstrap=BOOTSTRAP_REPLICATES if bootstrap is None else bootstrap,
    )
    result = Evaluation(rows)
    if output is not None or summary:
        dataset = {"dataroot": str(dataroot), "version": version, "split": split, "dataset_id": data_id}
        result.summary = evaluation_summary(rows, dataset=dataset, baseline=ce_baseline, baseline_nds=base_nds)
    if output is not None:
        result.summary_path = output.finish(result.summary)
    if db is not None:
        _add_to_database(db, rows, EntryRecord(name, role or "student", base, teacher, paper), replace=role is not None)
        result.stored = len(rows)
    return result


def _ce_baseline_nds(db: PathLike | None, ce_baseline: str | None, data_id: str) -> dict[str, float] | None:
    """The CE/mCE denominators: the NDS per condition of entry ``ce_baseline`` in ``db`` on ``data_id``,
    the mean over its seeds (``None`` without a baseline; ``UserError`` for a baseline without a database)."""
    from robobench.evaluate import baseline_nds

    if ce_baseline is None:
        return None
    if db is None:
        raise UserError(
            f"--ce-baseline {ce_baseline} reads that entry's rows from --db; pass an existing results database"
        )
    return baseline_nds(db, ce_baseline, data_id)


def _add_to_database(db: PathLike, rows: list[ResultRow], record: EntryRecord, *, replace: bool) -> None:
    """Add ``rows`` to the results database ``db`` with their entry's ``record`` (over a known one when ``replace``)."""
    from robobench.evaluate import record_entry
    from robobench.store import ResultStore

    with ResultStore(db) as store:
        store.add_many(rows)
        record_entry(store, record, replace=replace)


def render_leaderboard(
    db: PathLike = DEFAULT_OUT / "results.sqlite",
    out: PathLike = DEFAULT_OUT / "leaderboard",
    *,
    baseline: str | None = None,
    imports: Iterable[PathLike] = (),
    robobev: bool = False,
    min_map: float | None = None,
    gallery: PathLike | bytes | None = None,
    gallery_from: PathLike | None = None,
) -> Path:
    """Render the static HTML leaderboard of the results database ``db`` into ``out``; returns index.html.

    ``imports`` are CSV/JSON files of published numbers (reference rows), ``robobev`` adds RoboBEV's
    built-in results (only beside real nuScenes val rows), ``gallery`` a corruption-gallery PNG
    and ``gallery_from`` an image or dataroot to render one from.
    """
    from leaderboard.gallery import gallery_png
    from leaderboard.model import MIN_MAP
    from leaderboard.references import load_references
    from leaderboard.render import render_store
    from robobench.paths import output_dir
    from robobench.store import ResultStore

    if not Path(db).is_file():
        raise UserError(f"no results database at {db}; run `robobench sweep` first or pass --db PATH")
    source = Path(gallery_from) if gallery_from is not None else None
    output_dir(out, dataroots=[source] if source is not None and source.is_dir() else [])
    references = [ref for path in imports for ref in load_references(path)]
    if isinstance(gallery, (str, os.PathLike)) and not Path(gallery).is_file():
        raise UserError(f"gallery image {gallery} does not exist")
    picture = gallery_png(source) if source is not None else gallery
    with ResultStore(db) as store:
        if robobev:
            from leaderboard.robobev import check_real_nuscenes, load_robobev

            check_real_nuscenes(row.dataset_id for row in store.rows())
            references += load_robobev()
        return render_store(
            store,
            out,
            baseline=baseline,
            references=references,
            gallery=picture,
            min_map=MIN_MAP if min_map is None else min_map,
        )


# -- corruptions -----------------------------------------------------------------------------


def corrupt_dataset(
    dataroot: PathLike,
    out: PathLike,
    *,
    version: str = DEFAULT_VERSION,
    split: str = "synth_val",
    corruptions: Sequence[str] | None = None,
    levels: Sequence[str] | None = None,
    workers: int = 1,
    seed: int = 0,
    all_frames: bool = False,
    progress: bool = True,
    allow_damaged_images: bool = False,
) -> int:
    """Write nuScenes-C (RoboBEV's layout ``out/<Corruption>/<level>/<CAM>/<file>``) for ``split``;
    resumable; returns the number of images written. Default: all eight corruptions, three levels."""
    from corruptions import CORRUPTIONS, LEVELS
    from robobench.nuscenes_c import write_nuscenes_c
    from robobench.paths import output_dir

    output_dir(out, dataroots=[dataroot])
    try:
        return write_nuscenes_c(
            dataroot,
            version,
            split,
            out,
            list(corruptions or CORRUPTIONS),
            list(levels or LEVELS),
            workers=workers,
            seed=seed,
            all_frames=all_frames,
            progress=progress,
            allow_damaged_images=allow_damaged_images,
        )
    except ValueError as exc:  # unknown corruption / level names
        raise UserError(str(exc)) from None


def corruption_gallery(
    out: PathLike,
    *,
    image: PathLike | None = None,
    dataroot: PathLike | None = None,
    version: str = DEFAULT_VERSION,
    split: str = "synth_val",
    seed: int = 0,
) -> Path:
    """Render one view (``image``, or the front camera of ``split``'s first sample) under all 24
    conditions into the PNG ``out``; returns its path."""
    import cv2

    from corruptions.gallery import render_gallery
    from robobench.paths import output_file

    output_file(out, dataroots=[dataroot])
    if image is not None:
        rgb = _read_rgb(image)
    elif dataroot is not None:
        from robobench.nuscenes_c import frame_groups

        groups = frame_groups(dataroot, version, split)
        if not groups:
            raise UserError(f"split {split!r} of {dataroot} has no samples")
        rgb = _read_rgb(Path(dataroot) / groups[0].files[0])
    else:
        raise UserError("robobench corrupt gallery needs --image PATH or --dataroot D (with --version, --split)")
    try:
        grid = render_gallery(rgb, seed=seed)
    except ValueError as exc:
        raise UserError(f"{image or dataroot}: {exc}") from None
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise UserError(f"cannot write {path}; use a .png path in a writable folder")
    return path


def _read_rgb(path: PathLike) -> Any:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"cannot read image {path}; give a JPEG or PNG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# -- moving results --------------------------------------------------------------------------


def _existing_store(path: PathLike) -> Any:
    """The store at ``path``, which must exist: exporting from a mistyped path should not create an empty one."""
    from robobench.store import ResultStore

    if not Path(path).is_file():
        raise UserError(f"results database {path} does not exist; pass --db with the store a sweep wrote")
    return ResultStore(path)


def export_results(
    db: PathLike, out: PathLike, *, entries: Sequence[str] | None = None, dataset_id: str | None = None
) -> int:
    """Write the rows of ``db`` (optionally of some entries and one dataset id), the training cost of their
    models and the entry metadata to the JSON file ``out``; returns the number of rows written."""
    from robobench.paths import output_file

    output_file(out)
    filters: dict[str, Any] = {"dataset_id": dataset_id}
    if entries:
        filters["entry"] = list(entries)
    with _existing_store(db) as store:
        unknown = [e for e in entries or () if not store.count(entry=e)]
        if unknown:
            held = sorted({r.entry for r in store.rows()})
            raise UserError(f"{db} holds no results of {', '.join(unknown)}; it holds {', '.join(held) or 'none'}")
        return store.export_json(out, **filters)


def relabel_dataset(
    db: PathLike, old: str, new: str | None = None, *, dataroot: PathLike | None = None, version: str = "v1.0-synth"
) -> tuple[str, int, int]:
    """Move the results and training records of ``db`` on dataset id ``old`` to ``new``, or to the id
    that :func:`robobench.sweep.dataset_id` gives ``dataroot`` today; returns (new id, results, trainings).

    For stores written before the id covered a synthetic world's generator stamp: their
    sweeps would no longer find those rows and would train again. Only the user knows which
    world an old id's rows came from (worlds of equal tables shared it), hence the explicit
    ``dataroot``.
    """
    from robobench.sweep import dataset_id

    if (new is None) == (dataroot is None):
        raise UserError("give the new dataset id (--to) or the world it belongs to (--dataroot), one of the two")
    target = new if new is not None else dataset_id(dataroot, version)
    with _existing_store(db) as store:
        results, trainings = store.relabel_dataset(old, target)
    return target, results, trainings


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_results` wrote: ``rows`` upserted, of which ``new`` had no stored row with their key."""

    rows: int
    new: int


def import_results(db: PathLike, sources: Sequence[PathLike]) -> ImportReport:
    """Upsert ``results export`` JSON files or other results databases into ``db``, all in one transaction.

    Every source is read and checked before the store is opened, so a bad one creates or changes nothing.
    """
    from robobench.paths import output_file
    from robobench.store import ResultStore, parse_exports, read_export

    target = output_file(db, "--db").resolve()
    paths = [Path(s) for s in sources]
    same = [str(s) for s in paths if s.exists() and s.resolve() == target]
    if same:
        raise UserError(f"{same[0]} is the store being written (--db); import other stores into it")
    batch = parse_exports([(read_export(s), s) for s in paths])
    with ResultStore(db) as store:
        before = store.keys(status=None)
        n = store.import_batch(batch)
        new = len(store.keys(status=None) - before)
    return ImportReport(n, new)


# -- the demo --------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """The demo's outcome: whether its world passed validation, and the sweep (None when it did not run)."""

    world_ok: bool
    benchmark: BenchmarkResult | None = None


def run_demo(
    data: PathLike,
    out: PathLike,
    entries: Sequence[str] | None = None,
    *,
    sweep: bool = True,
    on_plan: Callable[[list[Cell], list[Cell]], None] | None = None,
    on_done: Callable[[CellOutcome], None] | None = None,
) -> DemoResult:
    """The main job: the default synthetic world (generated if missing or stale, then validated), then
    :func:`run_benchmark` of the demo entries in the ``quick`` profile on its ``synth_val_mini`` split."""
    from robobench.data.synth import VAL_MINI_SPLIT, VERSION
    from robobench.demo import DEMO_ENTRIES, prepare_world
    from robobench.paths import output_dir
    from robobench.registry import get_entry

    names = list(entries or DEMO_ENTRIES)
    for name in names:  # minutes of world generation must not end in a typo
        get_entry(name)
    output_dir(out, dataroots=[data])
    if not prepare_world(Path(data)):
        return DemoResult(False)
    if not sweep:
        return DemoResult(True)
    return DemoResult(
        True,
        run_benchmark(
            names,
            profile="quick",
            dataroot=data,
            version=VERSION,
            split=VAL_MINI_SPLIT,
            out=out,
            on_plan=on_plan,
            on_done=on_done,
        ),
    )
