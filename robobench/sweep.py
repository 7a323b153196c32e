"""The benchmark sweep: plan training and evaluation cells, skip finished ones, run the rest.

A sweep is entries x train modes x seeds trained models, each evaluated under
every requested condition (clean + 8 corruptions x 3 levels by default). It is
split in three parts so each can be tested on its own:

* **planning** (:func:`plan_cells`, :func:`prune`): pure functions from the
  request to a list of :class:`Cell` objects: one ``train`` cell per model (a
  distillation entry's teacher is trained first, in the same train mode and seed, or once
  with one fixed seed for every student seed)
  and one ``eval`` cell per (model, condition). Each model has a config hash over
  everything that determines its numbers (entry config, profile, train mode, seed,
  dataset id, code version, the teacher's hash); an eval cell's store key is
  ``(entry, train_mode, condition, seed, dataset_id, config_hash)``, and cells whose
  key is already stored as ``ok`` are pruned, with the train cells nobody needs.
* **scheduling** (:func:`run_cells`): runs cells on a ``concurrent.futures``
  executor as soon as the cells they need are done, writes each evaluation row to
  the store on the driver the moment it arrives (so a killed sweep loses at most
  the cells in flight), records a failing cell with its error without stopping
  the others, and fails the cells that depended on a failed training.
* **cell function**: ``fn(cell, ctx) -> dict``; for a train cell it trains into
  ``cell.model_dir`` (and may return the run's ``train_stats``, stored as a
  :class:`~robobench.schema.TrainingRecord`), for an eval cell it returns the
  ResultRow metric fields.
  The real one is :func:`run_cell`; tests inject cheap ones.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from robobench import __version__
from robobench.conditions import Condition, all_conditions
from robobench.constants import BOOTSTRAP_REPLICATES
from robobench.errors import UserError
from robobench.hardware import usable_cpus
from robobench.locking import exclusive
from robobench.paths import contained
from robobench.registry import Entry, get_entry, teacher_order
from robobench.schema import ResultRow, TrainingRecord, TrainMode
from robobench.store import KEY_FIELDS, ResultStore, training_key

#: Sources whose change changes a trained model or its numbers (relative to the repository root).
CODE_PARTS: tuple[str, ...] = (
    "robobench/data",
    "robobench/train.py",
    "robobench/ema.py",
    "robobench/stats.py",
    "robobench/predict.py",
    "robobench/evaluate.py",
    "robobench/metrics",
    "robobench/contract.py",
    "corruptions",
    "baselines",
)


#: Fields an eval cell function may return (the ResultRow fields that are not key or bookkeeping).
METRIC_FIELDS: frozenset[str] = frozenset(f.name for f in fields(ResultRow)) - {
    *KEY_FIELDS,
    "profile",
    "status",
    "error",
    "wall_time",
    "code_version",
    "created_at",
}


@dataclass(frozen=True)
class Cell:
    """One unit of work: train one model, or evaluate one model under one condition.

    ``needs`` are the ids of cells that must succeed first (an eval cell needs its
    model's train cell; a distilled model's train cell needs its teacher's).
    ``teacher_dir`` is the teacher model's directory for distillation entries;
    ``overrides`` (JSON) are the request's config overrides (``--set``), part of the hash.
    """

    kind: str  # "train" | "eval"
    entry: str
    train_mode: str
    seed: int
    profile: str
    dataset_id: str
    config_hash: str
    model_dir: Path
    condition: str | None = None
    teacher_dir: Path | None = None
    needs: tuple[str, ...] = ()
    evaluate: bool = True  # train cells: False for a teacher trained only to distil from
    overrides: str = "{}"  # JSON of config overrides deep-merged into every entry's profile config

    @property
    def id(self) -> str:
        cond = f"/{self.condition}" if self.condition is not None else ""
        return f"{self.kind}/{self.entry}/{self.train_mode}/seed{self.seed}{cond}"

    @property
    def key(self) -> tuple[Any, ...]:
        """The store key of an eval cell (``KEY_FIELDS`` order)."""
        return (self.entry, self.train_mode, self.condition, self.seed, self.dataset_id, self.config_hash)


@dataclass
class SweepContext:
    """What cell functions need besides the cell: data location, output folder, entry files."""

    dataroot: Path
    version: str
    out: Path
    split: str = ""
    entry_files: tuple[str, ...] = ()
    threads: int = 0  # torch threads per cell; 0 = leave torch's default
    allow_damaged_images: bool = False  # evaluate over truncated images instead of failing the cell

    @property
    def eval_split(self) -> str:
        """The split eval cells score: ``split``, else the version's conventional val split."""
        from robobench.train import default_split

        return self.split or default_split(self.version, "val")


@dataclass
class CellOutcome:
    """How a cell ended: ``ok`` or ``failed`` (with the error), its result and wall time."""

    cell: Cell
    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_time: float = 0.0


CellFn = Callable[[Cell, SweepContext], dict[str, Any]]


# -- hashing ---------------------------------------------------------------------------


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_version(root: Path | None = None, parts: Sequence[str] = CODE_PARTS, extra: Iterable[Path] = ()) -> str:
    """``<package version>+<digest>`` of the Python sources that determine results.

    ``extra`` adds files such as a user's entry file. Editing the harness around
    the numbers (sweep, store, CLI, leaderboard) does not change it.
    """
    root = Path(__file__).resolve().parent.parent if root is None else root
    digest = hashlib.sha256()
    files: list[Path] = []
    for part in parts:
        path = root / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    for path in [*files, *map(Path, extra)]:
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"


def config_hash(
    entry: Entry,
    *,
    profile: str,
    train_mode: str,
    seed: int,
    dataset_id: str,
    code: str,
    teacher_hash: str | None,
    overrides: dict[str, Any] | None = None,
) -> str:
    """Hash of everything that determines a trained model's numbers."""
    return _digest(
        {
            "entry": entry.name,
            "config": entry.config(profile),
            "overrides": overrides or {},
            "profile": profile,
            "train_mode": train_mode,
            "seed": seed,
            "dataset_id": dataset_id,
            "code": code,
            "teacher": teacher_hash,
        }
    )


# -- planning --------------------------------------------------------------------------


def plan_cells(
    entries: Sequence[str],
    *,
    train_modes: Sequence[str],
    seeds: Sequence[int],
    conditions: Sequence[str | Condition],
    profile: str,
    dataset_id: str,
    out: Path,
    code: str,
    overrides: dict[str, Any] | None = None,
    lookup: Callable[[str], Entry] = get_entry,
    eval_split: str = "",
    teacher_seed: int | None = None,
) -> list[Cell]:
    """Every cell of the sweep, teachers' train cells before their students', each model's
    train cell before its eval cells (no store access: see :func:`prune`).

    A distilled student of seed ``s`` learns from its teacher trained with seed ``s``, or with
    ``teacher_seed`` for every ``s`` when given: the papers distil from one released teacher
    checkpoint, so a seed spread over students alone needs one teacher (a requested teacher is
    still evaluated at the requested seeds only).

    Every entry's configuration (profile and ``overrides``) is checked against its schema first
    (:func:`robobench.train.entry_config`), so a misspelled key fails the plan, also a dry run.

    Eval cells carry ``<dataset_id>/<eval_split>`` as their dataset id (what was evaluated,
    as ``robobench evaluate`` records it), so scores on different splits never stand in for
    each other in the store; train cells keep ``dataset_id`` (what was trained on).
    """
    if not entries:
        raise UserError("no entries to sweep; pass --entries NAME[,NAME...] (see `robobench entries`)")
    modes, conds = _sweep_axes(entries, train_modes, seeds, conditions)
    from robobench.train import entry_config

    requested = set(entries)
    eval_id = f"{dataset_id}/{eval_split}" if eval_split else dataset_id
    cells: list[Cell] = []
    trained: dict[tuple[str, str, int], Cell] = {}  # (entry, mode, seed) -> its train cell
    order = teacher_order(entries, lookup)
    teachers = {lookup(name).teacher for name in order}
    for name in order:
        entry = lookup(name)
        entry_config(entry, profile, overrides)  # an unknown key or a bad value fails here, not in a cell
        own = list(seeds) if name in requested or teacher_seed is None else []
        if teacher_seed is not None and name in teachers and teacher_seed not in own:
            own.append(teacher_seed)
        for mode in modes:
            for seed in own:
                teacher_key = (entry.teacher, mode, seed if teacher_seed is None else teacher_seed)
                train = _train_cell(
                    entry,
                    name,
                    mode,
                    seed,
                    trained.get(teacher_key) if entry.teacher else None,
                    profile=profile,
                    dataset_id=dataset_id,
                    code=code,
                    overrides=overrides,
                    out=out,
                    evaluate=name in requested and seed in seeds,
                )
                trained[(name, mode, seed)] = train
                cells.append(train)
                if train.evaluate:
                    cells += [_eval_cell(train, c, eval_id) for c in conds]
    return cells


def _sweep_axes(
    entries: Sequence[str], train_modes: Sequence[str], seeds: Sequence[int], conditions: Sequence[str | Condition]
) -> tuple[list[str], list[str]]:
    """The canonical train modes and condition names of a sweep; ``UserError`` for an unknown
    one or for any mode, seed, condition or entry given twice (it would run its cells twice)."""
    modes = [parse_train_mode(m) for m in train_modes]
    conds = [str(c) if isinstance(c, Condition) else parse_condition(c) for c in conditions]
    for name, values in (("train mode", modes), ("seed", list(seeds)), ("condition", conds), ("entry", list(entries))):
        dup = sorted({str(v) for v in values if values.count(v) > 1})
        if dup:
            raise UserError(f"{name}(s) {', '.join(dup)} given twice")
    return modes, conds


def _train_cell(
    entry: Entry,
    name: str,
    mode: str,
    seed: int,
    teacher: Cell | None,
    *,
    profile: str,
    dataset_id: str,
    code: str,
    overrides: dict[str, Any] | None,
    out: Path,
    evaluate: bool,
) -> Cell:
    """The train cell of entry ``name`` at ``mode`` and ``seed``, needing its ``teacher``'s train
    cell when it has one; the teacher's config hash is part of its own, so a retrained teacher
    retrains its students."""
    h = config_hash(
        entry,
        profile=profile,
        train_mode=mode,
        seed=seed,
        dataset_id=dataset_id,
        code=code,
        teacher_hash=teacher.config_hash if teacher else None,
        overrides=overrides,
    )
    return Cell(
        "train",
        name,
        mode,
        seed,
        profile,
        dataset_id,
        h,
        model_dir=contained(Path(out) / "models", name, mode, f"seed{seed}-{h}"),
        teacher_dir=teacher.model_dir if teacher else None,
        needs=(teacher.id,) if teacher else (),
        evaluate=evaluate,
        overrides=json.dumps(overrides or {}, sort_keys=True),
    )


def _eval_cell(train: Cell, condition: str, dataset_id: str) -> Cell:
    """The eval cell of the model of ``train`` under ``condition``, on ``dataset_id`` (``<dataset>/<split>``)."""
    return Cell(
        "eval",
        train.entry,
        train.train_mode,
        train.seed,
        train.profile,
        dataset_id,
        train.config_hash,
        train.model_dir,
        condition=condition,
        needs=(train.id,),
        overrides=train.overrides,
    )


def parse_train_mode(text: str) -> str:
    """A train mode's canonical name; ``UserError`` listing the valid ones otherwise."""
    try:
        return TrainMode(text).value
    except ValueError:
        raise UserError(f"unknown train mode {text!r}; expected one of {[m.value for m in TrainMode]}") from None


def parse_condition(text: str) -> str:
    """A condition's canonical spelling (``fog:HARD`` -> ``Fog:hard``); ``UserError`` otherwise."""
    try:
        return str(Condition.parse(text))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def prune(cells: Sequence[Cell], done: set[tuple[Any, ...]]) -> list[Cell]:
    """Drop eval cells whose key is in ``done`` and train cells no remaining cell needs."""
    remaining = [c for c in cells if c.kind != "eval" or c.key not in done]
    needed: set[str] = set()
    for cell in reversed(remaining):  # dependents come after what they need
        if cell.kind == "eval" or cell.id in needed:
            needed.update(cell.needs)
    return [c for c in remaining if c.kind == "eval" or c.id in needed]


# -- executors -------------------------------------------------------------------------


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once in this process (``--workers 1``): caches stay warm."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future like any executor (Ctrl-C is not)
            future.set_exception(exc)
        return future


class RayExecutor(cf.Executor):
    """Runs calls as Ray tasks (``ray.init(address)``; ``None`` starts a local instance).

    Each task reserves ``num_cpus`` CPUs and ``num_gpus`` GPUs of the cluster.
    """

    def __init__(self, address: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'robobench[ray]'") from None
        self._ray = ray
        self._owns_ray = not ray.is_initialized()  # shut down only an instance this executor started
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self._remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(_call)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        return self._remote.remote(fn, *args, **kwargs).future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owns_ray:
            self._ray.shutdown()


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def make_executor(
    kind: str, workers: int = 1, ray_address: str | None = None, cpus_per_cell: float = 1.0, gpus_per_cell: float = 0.0
) -> cf.Executor:
    """``local`` (in-process for one worker, else a spawn process pool of ``workers``) or ``ray``."""
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if kind == "local":
        if workers == 1:
            return InlineExecutor()
        import multiprocessing

        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    if kind == "ray":
        return RayExecutor(ray_address, cpus_per_cell, gpus_per_cell)
    raise UserError(f"unknown executor {kind!r}; use local or ray")


# -- running ---------------------------------------------------------------------------


def cell_lock_path(cell: Cell) -> Path:
    """The lock file of ``cell`` in its model folder: one per model for training, one per
    condition for evaluation (see :func:`timed_call`)."""
    name = ".train.lock" if cell.kind == "train" else f".eval-{str(cell.condition).replace(':', '_')}.lock"
    return cell.model_dir / name


def timed_call(fn: CellFn, cell: Cell, ctx: SweepContext) -> CellOutcome:
    """Run ``fn`` on ``cell`` under the cell's lock, turning any exception into a failed outcome.

    The lock (:func:`robobench.locking.exclusive` on :func:`cell_lock_path`) keeps two
    sweeps on the same output from training one model twice: the second waits, says so
    on standard error, and then finds the finished checkpoint (a train cell resumes).
    The wall time counts from when the lock is held.
    """
    start = time.perf_counter()

    def waiting(holder: str) -> None:
        print(
            f"{cell.id}: waiting for {holder}, which is running this cell (lock {cell_lock_path(cell)})",
            file=sys.stderr,
            flush=True,
        )

    try:
        with exclusive(cell_lock_path(cell), on_wait=waiting):
            start = time.perf_counter()
            result = fn(cell, ctx) or {}
        unknown = sorted(set(result) - METRIC_FIELDS) if cell.kind == "eval" else []
        if unknown:
            raise ValueError(f"the cell function returned fields {unknown} that are not ResultRow metric fields")
        return CellOutcome(cell, "ok", result=result, wall_time=time.perf_counter() - start)
    except Exception as exc:  # a failing cell must not stop the sweep: record it
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return CellOutcome(
            cell, "failed", error=f"{type(exc).__name__}: {exc}\n{tail}", wall_time=time.perf_counter() - start
        )


def outcome_row(outcome: CellOutcome, code: str) -> ResultRow:
    """The store row of a finished eval cell (metrics, or ``failed`` with the error)."""
    cell = outcome.cell
    metrics = outcome.result if outcome.status == "ok" else {}
    return ResultRow(
        **dict(zip(KEY_FIELDS, cell.key)),
        profile=cell.profile,
        status=outcome.status,
        error=outcome.error,
        wall_time=outcome.wall_time,
        code_version=code,
        **metrics,
    )


def training_record(cell: Cell, stats: Any, code: str) -> TrainingRecord | None:
    """The training cost of ``cell``'s model from its ``train_stats`` (the contents of
    :data:`robobench.train.STATS_FILE`, as the train cell function returns them); None without stats."""
    if not isinstance(stats, dict):
        return None
    return TrainingRecord(
        entry=cell.entry,
        train_mode=cell.train_mode,
        seed=cell.seed,
        dataset_id=cell.dataset_id,
        config_hash=cell.config_hash,
        profile=cell.profile,
        wall_time_s=stats.get("wall_time_s"),
        peak_rss_mb=stats.get("peak_rss_mb"),
        peak_cuda_mb=stats.get("cuda_max_allocated_mb"),
        iterations=stats.get("iterations"),
        world_size=stats.get("world_size"),
        device=str(stats.get("device", "")),
        code_version=code,
    )


def read_train_stats(model_dir: Path) -> dict[str, Any] | None:
    """The scalar fields of a model folder's :data:`robobench.train.STATS_FILE` (not the loss
    curves or the config), or None when it is missing or damaged: that costs the training
    record, not the training."""
    from robobench.train import STATS_FILE

    try:
        stats = json.loads((model_dir / STATS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return {k: v for k, v in stats.items() if not isinstance(v, (list, dict))} if isinstance(stats, dict) else None


def backfill_trainings(cells: Iterable[Cell], store: ResultStore, code: str) -> int:
    """Store the cost of already trained models that have no training record yet (e.g. trained
    before the store kept them, so the sweep prunes their train cells), from the ``train_stats.json``
    in their model folders; returns how many were added."""
    known = {training_key(t) for t in store.trainings()}
    found = [
        record
        for cell in cells
        if cell.kind == "train"
        and training_key(cell) not in known
        and (record := training_record(cell, read_train_stats(cell.model_dir), code)) is not None
    ]
    if found:
        store.add_trainings(found)
    return len(found)


def run_cells(
    cells: Sequence[Cell],
    fn: CellFn,
    ctx: SweepContext,
    store: ResultStore,
    executor: cf.Executor,
    *,
    code: str,
    on_done: Callable[[CellOutcome], None] = lambda o: None,
) -> list[CellOutcome]:
    """Run ``cells`` respecting ``needs``; eval rows and training records go to ``store`` as each cell finishes.

    A cell whose needed cell failed is not run: it fails with "needs ... which failed".
    Returns every outcome in completion order.
    """
    return _CellScheduler(cells, fn, ctx, store, executor, code, on_done).run()


class _CellScheduler:
    """The state of :func:`run_cells`: which cells wait on which, which failed, which run, what ended."""

    def __init__(
        self,
        cells: Sequence[Cell],
        fn: CellFn,
        ctx: SweepContext,
        store: ResultStore,
        executor: cf.Executor,
        code: str,
        on_done: Callable[[CellOutcome], None],
    ) -> None:
        self.fn, self.ctx, self.store, self.executor, self.code, self.on_done = fn, ctx, store, executor, code, on_done
        self.by_id = {c.id: c for c in cells}
        self.waiting = {c.id: {n for n in c.needs if n in self.by_id} for c in cells}
        self.failed: dict[str, str] = {}  # cell id -> first line of its error
        self.outcomes: list[CellOutcome] = []
        self.running: dict[cf.Future, Cell] = {}

    def run(self) -> list[CellOutcome]:
        """Launch every ready cell, then wait for one to end and launch what it made ready, until none is left."""
        self.launch_ready()
        while self.running or self.waiting:
            if not self.running:  # everything left waits on something that will never run
                raise RuntimeError(f"cells wait on unknown cells: {sorted(self.waiting)}")
            done, _ = cf.wait(list(self.running), return_when=cf.FIRST_COMPLETED)
            for future in done:
                self.complete(self.running.pop(future), future)
            self.launch_ready()
        return self.outcomes

    def finish(self, outcome: CellOutcome) -> None:
        """Record an ended cell: its eval row or training record in the store, its failure, ``on_done``."""
        if outcome.cell.kind == "eval":
            self.store.add(outcome_row(outcome, self.code))
        elif outcome.status == "ok" and (
            record := training_record(outcome.cell, outcome.result.get("train_stats"), self.code)
        ):
            self.store.add_trainings([record])
        if outcome.status != "ok":
            self.failed[outcome.cell.id] = (outcome.error or "").splitlines()[0] if outcome.error else "failed"
        self.outcomes.append(outcome)
        self.on_done(outcome)

    def complete(self, cell: Cell, future: cf.Future) -> None:
        """Record the outcome of ``cell``'s finished ``future`` and release the cells that need it."""
        try:
            outcome = future.result()
        except Exception as exc:  # the worker itself died (not the cell function)
            outcome = CellOutcome(cell, "failed", error=f"worker failed: {type(exc).__name__}: {exc}")
        self.finish(outcome)
        self.release(cell.id)

    def release(self, cid: str) -> None:
        """Cell ``cid`` ended: no cell waits on it any more."""
        for w in self.waiting.values():
            w.discard(cid)

    def launch_ready(self) -> None:
        """Submit every cell that waits on nothing; fail at once those whose needed cell failed."""
        # An inline executor finishes a cell inside submit(): record it at once (before the
        # next cell runs), which may make further cells ready, hence the loop.
        while ready := [c for c, w in self.waiting.items() if not w]:
            for cid in ready:
                del self.waiting[cid]
                cell = self.by_id[cid]
                bad = [n for n in cell.needs if n in self.failed]
                if bad:
                    error = f"needs {bad[0]}, which failed: {self.failed[bad[0]]}"
                    self.finish(CellOutcome(cell, "failed", error=error))
                    self.release(cid)
                    continue
                future = self.executor.submit(timed_call, self.fn, cell, self.ctx)
                if future.done():
                    self.complete(cell, future)
                else:
                    self.running[future] = cell


# -- the whole sweep --------------------------------------------------------------------


def dataset_id(dataroot: str | Path, version: str) -> str:
    """``<version>-<digest>`` of the table files' names and sizes, the scene/sample/split tables and,
    for a synthetic world, its generator stamp (:func:`robobench.data.synth.world_stamp`).

    Content-based, so the same dataset has the same id on every machine (results
    exported from one machine line up with another's). The stamp is in it because two
    synthetic worlds can share every table and differ only in their pictures (two renderers
    or generator versions drawing the same scenes): with tables alone their results got one
    id, and a sweep into a store holding one world's models took them for the other's. The
    stamp names what decides a world's pixels (generator version, preset, seed, renderer,
    camera), so the id does not depend on a machine's image encoder as hashing the image
    files would.
    """
    from robobench.data.synth import world_stamp

    table_dir = Path(dataroot) / version
    if not table_dir.is_dir():
        raise UserError(f"no table folder {table_dir}; check --dataroot and --version")
    digest = hashlib.sha256()
    for path in sorted(table_dir.glob("*.json")):
        digest.update(f"{path.name}:{path.stat().st_size};".encode())
        if path.name in ("scene.json", "sample.json", "splits.json"):
            digest.update(path.read_bytes())
    stamp = world_stamp(Path(dataroot))
    if stamp is not None:
        digest.update(json.dumps(stamp, sort_keys=True).encode())
    return f"{version}-{digest.hexdigest()[:10]}"


def threads_per_cell(executor: str, workers: int, cpus_per_cell: float) -> int:
    """Torch threads per cell: the CPUs a Ray task reserves, or this machine's CPUs shared by the
    local workers (0 = torch's default, for one in-process worker)."""
    if executor == "ray":
        return max(1, int(cpus_per_cell))
    if workers == 1:
        return 0
    return max(1, usable_cpus() // workers)


@dataclass
class SweepRequest:
    """What to sweep: entries, train modes, seeds, conditions, profile and how to run the cells
    (the arguments of :func:`robobench.api.run_benchmark` and ``robobench sweep``)."""

    entries: list[str]
    train_modes: list[str] = field(default_factory=lambda: [TrainMode.CLEAN.value])
    seeds: list[int] = field(default_factory=lambda: [0])
    conditions: list[str] = field(default_factory=lambda: [str(c) for c in all_conditions()])
    profile: str = "quick"
    overrides: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    teacher_seed: int | None = None  # None: each student seed learns from a teacher of that seed


@dataclass
class SweepReport:
    """What a sweep did: all planned cells, the outcomes of those it ran, the cells left to run."""

    planned: list[Cell]
    ran: list[CellOutcome]
    code: str
    todo: list[Cell] = field(default_factory=list)

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.ran if o.status != "ok"]


def sweep(
    request: SweepRequest,
    ctx: SweepContext,
    store: ResultStore | None,
    *,
    dataset_id: str,
    fn: CellFn,
    code: str | None = None,
    on_plan: Callable[[list[Cell], list[Cell]], None] = lambda planned, todo: None,
    on_done: Callable[[CellOutcome], None] = lambda o: None,
    dry_run: bool = False,
) -> SweepReport:
    """Plan, prune against ``store``, record entry metadata, run the rest (unless ``dry_run``).

    ``store`` may be None for a dry run on an output with no results yet: every cell is left.
    """
    names = teacher_order(request.entries)
    extra = [Path(f) for f in ctx.entry_files]
    code = code if code is not None else code_version(extra=extra)
    planned = plan_cells(
        request.entries,
        train_modes=request.train_modes,
        seeds=request.seeds,
        conditions=request.conditions,
        profile=request.profile,
        dataset_id=dataset_id,
        out=ctx.out,
        code=code,
        overrides=request.overrides,
        eval_split=ctx.eval_split,
        teacher_seed=request.teacher_seed,
    )
    todo = prune(planned, store.keys() if store is not None else set())
    on_plan(planned, todo)
    if dry_run:
        return SweepReport(planned, [], code, todo)
    if store is None:
        raise ValueError("a sweep that runs cells needs a results store")
    store.add_entries([get_entry(n).record() for n in names])
    backfill_trainings(planned, store, code)
    executor = make_executor(
        request.executor, request.workers, request.ray_address, request.cpus_per_cell, request.gpus_per_cell
    )
    try:
        ran = run_cells(todo, fn, ctx, store, executor, code=code, on_done=on_done)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return SweepReport(planned, ran, code, todo)


# -- the real cell function ------------------------------------------------------------

#: Seed of the on-the-fly evaluation corruptions: every model sees the same corrupted views.
EVAL_CORRUPTION_SEED = 0


@functools.lru_cache(maxsize=2)
def _evaluator(dataroot: str, version: str, split: str) -> Any:
    """One :class:`DetectionEvaluator` per (dataset, split) and process: the GT is prepared once."""
    from robobench.data.nusc import open_nuscenes
    from robobench.metrics.detection import DetectionEvaluator

    return DetectionEvaluator(open_nuscenes(dataroot, version), split)


def run_cell(cell: Cell, ctx: SweepContext) -> dict[str, Any]:
    """Train (:func:`robobench.train.train_entry`) or evaluate one cell for real.

    Train cells train into ``cell.model_dir`` with ``resume=True``, so a killed
    training continues and a finished one is reused, and return the run's
    ``train_stats.json`` (its training cost, also for a reused run); the cell's overrides are
    deep-merged into the profile config, and a distillation entry's config gets
    ``teacher_checkpoint`` (the path of its teacher's final checkpoint). Eval cells
    run :func:`robobench.predict.predict` under the cell's condition (results JSON
    kept in ``model_dir/results``) and score it with the process's cached
    :class:`~robobench.metrics.detection.DetectionEvaluator`, with the scene bootstrap's
    replicates of NDS and mAP (evaluation noise, see :mod:`robobench.stats`).
    """
    import torch

    from robobench.registry import discover
    from robobench.train import FINAL_CKPT, train_entry

    discover(ctx.entry_files)
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    if cell.kind == "train":
        overrides = json.loads(cell.overrides)
        if cell.teacher_dir is not None:
            overrides["teacher_checkpoint"] = str(cell.teacher_dir / FINAL_CKPT)
        final = train_entry(
            cell.entry,
            cell.profile,
            cell.train_mode,
            cell.seed,
            dataroot=ctx.dataroot,
            version=ctx.version,
            out_dir=cell.model_dir,
            resume=True,
            overrides=overrides,
            progress=False,
        )
        return {"checkpoint": str(final), "train_stats": read_train_stats(final.parent)}
    from robobench.evaluate import condition_file_name
    from robobench.predict import predict

    assert cell.condition is not None
    pred = predict(
        cell.entry,
        cell.model_dir / FINAL_CKPT,
        cell.condition,
        ctx.dataroot,
        ctx.version,
        split=ctx.eval_split,
        out_path=cell.model_dir / "results" / condition_file_name(cell.condition),
        seed=EVAL_CORRUPTION_SEED,
        progress=False,
        allow_damaged_images=ctx.allow_damaged_images,
    )
    evaluator = _evaluator(str(ctx.dataroot), ctx.version, ctx.eval_split)
    fields_ = evaluator.evaluate(pred.results_path, bootstrap=BOOTSTRAP_REPLICATES).row_fields()
    if pred.depth_metrics:
        fields_["depth"] = pred.depth_metrics
    return fields_
