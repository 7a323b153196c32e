"""The training engine: one entry, one profile, one train mode, one seed -> a checkpoint.

* AdamW, linear warm-up then cosine decay (per iteration), gradient-norm clipping.
* Deterministic: python/numpy/torch seeded; the data order of an epoch is a function
  of ``(seed, epoch)`` (``DistributedSampler``'s permutation) and each item's
  augmentation of ``(seed, epoch, sample token)``, so nothing depends on worker count
  or on where a run was interrupted.
* Checkpoints are written atomically (:func:`robobench.io.save_checkpoint`) every
  ``train.checkpoint_every`` iterations and at each epoch end; they hold model,
  optimizer, scheduler, AMP scaler, RNG states and the iteration (:meth:`TrainState.state_dict`), so ``resume=True``
  continues the run exactly where the last checkpoint left it (mid-epoch included).
* A NaN/inf loss stops training with a :class:`NonFiniteLoss` (a ``UserError``) and
  leaves the last good checkpoint untouched.
* AMP (float16 autocast + ``GradScaler``) on CUDA; bfloat16 autocast on CPUs with native
  bfloat16 when ``train.precision`` asks for it (:mod:`robobench.precision`; float32 by
  default). DistributedDataParallel when launched by ``torchrun`` (``WORLD_SIZE > 1``); the
  single process is the default.

The ``train`` section of an entry config is documented in :class:`TrainConfig`.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from robobench.constants import DEFAULT_DATAROOT, DEFAULT_VERSION
from robobench.contract import load_pretrained
from robobench.data.dataset import BEVDataset, DataConfig, collate, eval_input_cache
from robobench.data.index import load_index
from robobench.config import (
    DecayFloat,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    build_config,
    deep_merge,
)
from robobench.ema import WeightEMA
from robobench.errors import UserError
from robobench.hardware import usable_cpus
from robobench.io import TEACHER_CHECKPOINT_KEY, load_checkpoint, save_checkpoint, write_json_atomic
from robobench.precision import Precision, autocast, cpu_autocast_dtype, to_float32
from robobench.registry import Entry, get_entry
from robobench.schema import TrainMode


#: Checkpoint file names inside a run's output folder.
LAST_CKPT = "last.pt"
FINAL_CKPT = "final.pt"
STATS_FILE = "train_stats.json"
#: Folder, next to a student's run folder, where train_entry trains a missing teacher.
TEACHERS_DIR = "teachers"

#: Split used when none is given, per devkit version (train, validation).
_DEFAULT_SPLITS: dict[str, tuple[str, str]] = {
    "v1.0-synth": ("synth_train", "synth_val"),
    "v1.0-mini": ("mini_train", "mini_val"),
    "v1.0-trainval": ("train", "val"),
}


def default_split(version: str, which: str) -> str:
    """The conventional ``train``/``val`` split name of a dataset version."""
    if version not in _DEFAULT_SPLITS:
        raise UserError(f"no default {which} split for version {version!r}; pass the split name explicitly")
    return _DEFAULT_SPLITS[version][0 if which == "train" else 1]


def check_dataroot(dataroot: str | os.PathLike, version: str) -> Path:
    """``UserError`` telling the user how to make the dataset when ``dataroot`` is missing."""
    path = Path(dataroot)
    if not (path / version).is_dir():
        hint = (
            f"run 'robobench data synth --out {path}' to generate it"
            if version == DEFAULT_VERSION
            else "pass --dataroot/--version of a nuScenes copy"
        )
        raise UserError(f"dataset {path} (version {version}) not found; {hint}")
    return path


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of an entry config.

    ``epochs``, ``batch_size`` (per process), ``lr`` and ``weight_decay`` (AdamW),
    ``warmup_iters`` (linear warm-up from ``warmup_ratio * lr``), cosine decay to
    ``min_lr_ratio * lr`` at the last iteration, ``grad_clip`` (max gradient L2 norm;
    0 disables), ``num_workers`` (data-loader processes; ``auto``: :func:`loader_workers`),
    ``max_train_samples`` (use the first N samples of the split; quick profiles),
    ``checkpoint_every`` (iterations between checkpoints; 0 = epoch ends only), ``amp``
    (float16 autocast, CUDA only), ``ema_decay`` (keep an exponential moving average of the
    weights with this decay and evaluate it, :mod:`robobench.ema`; 0 = off).
    ``precision`` (``fp32``, ``bf16`` or ``auto``: bfloat16 autocast on CPU, see
    :mod:`robobench.precision`; prediction with the trained model uses the same).
    """

    epochs: PositiveInt = 1
    batch_size: PositiveInt = 1
    lr: PositiveFloat = 2e-4
    weight_decay: NonNegativeFloat = 1e-2
    warmup_iters: NonNegativeInt = 0
    warmup_ratio: NonNegativeFloat = 1e-3
    min_lr_ratio: NonNegativeFloat = 1e-3
    grad_clip: NonNegativeFloat = 5.0
    num_workers: NonNegativeInt | Literal["auto"] = 0
    max_train_samples: PositiveInt | None = None
    checkpoint_every: NonNegativeInt = 0
    amp: bool = True
    ema_decay: DecayFloat = 0.0
    precision: Precision = "fp32"

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> TrainConfig:
        """Validate ``cfg`` (unknown keys and wrong types are a ``UserError`` naming them)."""
        return build_config(cls, cfg, "train")


E = TypeVar("E", bound="EntryConfig")


@dataclass(frozen=True)
class EntryConfig:
    """An entry's whole configuration, typed: what its builder and the training engine read.

    ``data`` (:class:`~robobench.data.dataset.DataConfig`), ``model`` (free-form here: an entry
    types its ``model`` section with a subclass, passed as ``register_entry(schema=...)``),
    ``train`` (:class:`TrainConfig`) and ``teacher_checkpoint``
    (:data:`~robobench.io.TEACHER_CHECKPOINT_KEY`: the final checkpoint of the teacher a
    distillation entry learns from, set by the sweep or by :func:`train_entry`).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    teacher_checkpoint: str | None = None

    @classmethod
    def parse(cls: type[E], cfg: dict[str, Any]) -> E:
        """The typed form of the config dict ``cfg`` (a ``UserError`` naming an unknown key or a wrong type)."""
        return build_config(cls, cfg, "")


@dataclass(frozen=True)
class UntypedEntryConfig(EntryConfig):
    """What the configuration of an entry that declares no ``schema`` is checked against: ``data``
    and ``train`` strictly, ``model`` and a distillation recipe's ``distill`` section free-form
    (:func:`entry_config` leaves any other section its profile declares free-form too)."""

    distill: dict[str, Any] | None = None


def entry_config(
    entry: Entry, profile: str, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], EntryConfig]:
    """``entry``'s ``profile`` config deep-merged with ``overrides``, as a dict and typed by the entry's
    ``schema`` (default :class:`UntypedEntryConfig`).

    Called when a run is planned (``robobench sweep``, also with ``--dry-run``) and before training,
    so a misspelled key or a wrong value is one ``UserError`` naming the entry, the profile and the key.
    """
    profile_cfg = entry.config(profile)
    cfg = deep_merge(profile_cfg, overrides or {})
    try:
        if entry.schema is not None:
            return cfg, entry.schema.parse(cfg)
        own = set(profile_cfg) - {f.name for f in fields(UntypedEntryConfig)}  # sections only this entry knows
        return cfg, UntypedEntryConfig.parse({k: v for k, v in cfg.items() if k not in own})
    except UserError as exc:
        raise UserError(f"entry {entry.name!r} ({entry.source}), profile {profile!r}: {exc}") from None


class NonFiniteLoss(UserError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


def lr_factor(iteration: int, total: int, warmup: int, warmup_ratio: float, min_ratio: float) -> float:
    """Multiplier of the base learning rate after ``iteration`` optimizer steps.

    Linear from ``warmup_ratio`` to 1 over ``warmup`` steps, then cosine from 1 to
    ``min_ratio`` at ``total`` steps.
    """
    if warmup > 0 and iteration < warmup:
        return warmup_ratio + (1.0 - warmup_ratio) * iteration / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (iteration - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) and ask cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def seed_worker(worker_id: int) -> None:
    """Data-loader ``worker_init_fn``: derive python/numpy seeds from the worker's torch seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def config_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first key path where two configs differ, with both values (``None`` when equal).

    Values are compared as JSON (a checkpoint stores tuples as lists); the teacher checkpoint
    path is not part of a model's recipe and is ignored.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key == TEACHER_CHECKPOINT_KEY and not where:
                continue
            path = f"{where}.{key}" if where else str(key)
            if key not in a or key not in b:
                return f"{path} ({a.get(key, '<absent>')!r} vs {b.get(key, '<absent>')!r})"
            diff = config_difference(a[key], b[key], path)
            if diff:
                return diff
        return None
    if json.loads(json.dumps(a)) != json.loads(json.dumps(b)):
        return f"{where} ({a!r} vs {b!r})"
    return None


def check_resumable(
    checkpoint: Path, ckpt: dict[str, Any], entry: str, mode: TrainMode, seed: int, cfg: dict[str, Any]
) -> None:
    """``UserError`` when the loaded ``ckpt`` (read from ``checkpoint``) is not a run of ``entry``,
    ``mode`` and ``seed`` with the config ``cfg``.

    Resuming or reusing such a run would silently mix two recipes (e.g. a teacher trained on one
    LiDAR sweep reused by a student whose data now holds two); the run is kept, never overwritten.
    """
    meta = ckpt.get("meta") or {}
    if (meta.get("entry"), meta.get("train_mode"), meta.get("seed")) != (entry, mode.value, seed):
        raise UserError(
            f"{checkpoint} belongs to entry {meta.get('entry')!r}, mode {meta.get('train_mode')!r}, "
            f"seed {meta.get('seed')}; "
            f"it cannot resume {entry!r}, {mode.value!r}, seed {seed}"
        )
    stored = ckpt.get("config")
    diff = config_difference(stored, cfg) if isinstance(stored, dict) else "config (not stored in the checkpoint)"
    if diff:
        raise UserError(
            f"{checkpoint} was trained with another config, differing at {diff}; "
            "choose another --out (or delete that run to retrain it)"
        )


def resolve_entry(entry: str | Entry) -> Entry:
    """An :class:`Entry` given itself or its registered name."""
    return get_entry(entry) if isinstance(entry, str) else entry


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list):
        return [to_device(v, device) for v in batch]
    return batch


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this call created the process group (and destroys it at the end)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Dist:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1``; single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, owns)


class _ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start an epoch part-way (after ``start`` of its indices)."""

    start = 0

    def __iter__(self):  # type: ignore[override]
        return iter(list(super().__iter__())[self.start :])


def reset_peak_rss() -> bool:
    """Restart this process's resident-set high-water mark (Linux ``clear_refs`` 5); False if unsupported.

    ``ru_maxrss`` is a lifetime maximum: in a sweep worker that trains several models one
    after another it would report the largest model so far, not the current one.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb(since_reset: bool) -> float:
    """Peak resident set of this process in MiB: since :func:`reset_peak_rss` (``VmHWM``) or over its lifetime."""
    if since_reset:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _peak_memory_mb(device: torch.device, since_reset: bool) -> dict[str, Any]:
    """Peak memory of this training: the main process (``peak_rss_scope`` says since when) and
    the largest data-loader worker this process has waited for (a lifetime maximum)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    out: dict[str, Any] = {
        "peak_rss_mb": round(peak_rss_mb(since_reset), 1),
        "peak_rss_scope": "training" if since_reset else "process",
        "peak_rss_workers_mb": round(children, 1),
    }
    if device.type == "cuda":
        out["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def _train_corruption(mode: TrainMode, seed: int) -> Callable | None:
    """The training-time corruption augmentation of a train mode (None when clean): the eight
    test corruptions for ``corrupted``, the disjoint held-out set for ``heldout``."""
    if mode is TrainMode.CLEAN:
        return None
    from robobench.data.corrupt_aug import HeldoutCorruption, RandomCorruption

    return HeldoutCorruption(seed=seed) if mode is TrainMode.HELDOUT else RandomCorruption(seed=seed)


@dataclass(frozen=True)
class _Run:
    """One training run: which entry, profile, train mode and seed, on which data, into which folder."""

    entry: Entry
    profile: str
    mode: TrainMode
    seed: int
    dataroot: str | os.PathLike
    version: str
    split: str
    out: Path

    @property
    def meta(self) -> dict[str, Any]:
        """The run's identity as its checkpoints and ``train_stats.json`` store it."""
        return {
            "entry": self.entry.name,
            "profile": self.profile,
            "train_mode": self.mode.value,
            "seed": self.seed,
            "dataroot": str(self.dataroot),
            "version": self.version,
            "split": self.split,
        }

    def checked_checkpoint(self, name: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
        """The checkpoint ``name`` of the run's folder, checked to belong to this run and ``cfg``
        (:func:`check_resumable`); ``None`` when there is none."""
        path = self.out / name
        if not path.is_file():
            return None
        ckpt = load_checkpoint(path)
        check_resumable(path, ckpt, self.entry.name, self.mode, self.seed, cfg)
        return ckpt


def train_entry(
    entry: str | Entry,
    profile: str = "quick",
    train_mode: str | TrainMode = TrainMode.CLEAN,
    seed: int = 0,
    *,
    dataroot: str | os.PathLike = DEFAULT_DATAROOT,
    version: str = DEFAULT_VERSION,
    split: str | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Path:
    """Train ``entry`` with its ``profile`` config and return the final checkpoint's path.

    ``overrides`` is deep-merged into the profile config (e.g. ``{"train": {"epochs": 2}}``).
    ``out_dir`` (default ``runs/<entry>-<profile>-<mode>-s<seed>``) receives ``last.pt``
    (the resumable state), ``final.pt`` and ``train_stats.json`` (wall time, peak memory,
    loss curve, and the curve of each named loss term, e.g. a distillation recipe's terms).
    ``resume=True`` continues from ``last.pt`` (or returns ``final.pt`` if the run had finished);
    without it an existing checkpoint is an error, never overwritten.
    """
    entry = resolve_entry(entry)
    try:
        mode = TrainMode(train_mode)
    except ValueError:
        raise UserError(f"unknown train mode {train_mode!r}; expected one of {[m.value for m in TrainMode]}") from None
    cfg, typed = entry_config(entry, profile, overrides)
    check_dataroot(dataroot, version)
    split = split or default_split(version, "train")
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"{entry.name}-{profile}-{mode.value}-s{seed}"
    run = _Run(entry, profile, mode, seed, dataroot, version, split, out)
    if not resume and ((out / LAST_CKPT).exists() or (out / FINAL_CKPT).exists()):
        raise UserError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    if resume and run.checked_checkpoint(FINAL_CKPT, cfg) is not None:
        return out / FINAL_CKPT
    # the last.pt to continue, read once and checked before any teacher work
    resumed = run.checked_checkpoint(LAST_CKPT, cfg) if resume else None
    if entry.teacher is not None:
        cfg = _with_teacher_checkpoint(run, cfg, device, progress)
    _train(run, cfg, typed, resumed, device, progress)
    return out / FINAL_CKPT


class TrainState:
    """What a training run carries from one iteration to the next, and its checkpoint.

    The model, its AdamW optimizer, the warm-up/cosine schedule (:func:`lr_factor`), the AMP
    scaler, the optional weight EMA, the iteration, the loss curve and each named loss term's
    curve, and the training time so far. :meth:`state_dict` is the checkpoint (with the RNG
    states, the run's config and meta) and :meth:`load_state_dict` continues from one exactly,
    mid-epoch included.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tcfg: TrainConfig,
        total: int,
        use_amp: bool,
        config: dict[str, Any],
        meta: dict[str, Any],
    ) -> None:
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda it: lr_factor(it, total, tcfg.warmup_iters, tcfg.warmup_ratio, tcfg.min_lr_ratio)
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        self.ema = WeightEMA(model, tcfg.ema_decay) if tcfg.ema_decay else None
        self.grad_clip = tcfg.grad_clip
        self.config, self.meta = config, meta
        self.iteration = 0
        self.history: list[float] = []
        self.loss_terms: dict[str, list[float]] = {}  # each named loss term per iteration (what a total hides)
        self._elapsed_before = 0.0  # training time of the runs this one resumes
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds spent training, over this process and the runs it resumed."""
        return self._elapsed_before + time.perf_counter() - self._started

    def step(self, loss: torch.Tensor, losses: dict[str, torch.Tensor]) -> None:
        """One optimizer step on ``loss`` (the sum of the named ``losses``), recorded in the curves."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.iteration += 1
        self.history.append(float(loss.detach()))
        for name, value in losses.items():
            self.loss_terms.setdefault(name, []).append(float(value.detach()))

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: every state above, the RNG states of python, numpy and torch, the config and meta."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": _rng_state(),
            "iteration": self.iteration,
            "history": self.history,
            "loss_terms": self.loss_terms,
            "elapsed": self.elapsed,
            "config": self.config,
            "meta": self.meta,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        """Continue from a checkpoint of :meth:`state_dict` (also restores the RNG states)."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
        self.iteration, self.history, self._elapsed_before = ckpt["iteration"], list(ckpt["history"]), ckpt["elapsed"]
        self.loss_terms = {k: list(v) for k, v in ckpt.get("loss_terms", {}).items()}  # absent in older checkpoints
        self._started = time.perf_counter()


@dataclass(frozen=True)
class _Runtime:
    """Where and how the iterations of a run execute: the network, device, precision and checkpointing."""

    net: torch.nn.Module  # the model or its DDP wrapper
    device: torch.device
    cpu_dtype: torch.dtype | None
    use_amp: bool
    dist: _Dist
    last: Path
    checkpoint_every: int

    def checkpoint(self, state: TrainState, path: Path) -> None:
        """Write ``state``'s checkpoint to ``path`` (by the main process only)."""
        if self.dist.main:
            save_checkpoint(state.state_dict(), path)


def train_one_epoch(state: TrainState, loader: Iterable[Any], runtime: _Runtime, bar: Any) -> None:
    """Train on every batch of ``loader`` (an epoch, or what a resumed run has left of it), updating the
    progress ``bar`` and writing ``last.pt`` every ``train.checkpoint_every`` iterations.

    Raises :class:`NonFiniteLoss` before the step of a NaN/inf loss, so the last checkpoint stays good.
    """
    for batch in loader:
        batch = to_device(batch, runtime.device)
        losses = forward_and_loss(runtime.net, state.model, batch, runtime.device, runtime.cpu_dtype, runtime.use_amp)
        loss = sum(losses.values())
        _check_finite(loss, losses, state.iteration + 1, runtime.last, runtime.dist)
        state.step(loss, losses)
        bar.update(1)
        bar.set_postfix(loss=f"{state.history[-1]:.4f}", lr=f"{state.scheduler.get_last_lr()[0]:.2e}")
        if runtime.checkpoint_every and state.iteration % runtime.checkpoint_every == 0:
            runtime.checkpoint(state, runtime.last)


def _train(
    run: _Run, cfg: dict[str, Any], typed: EntryConfig, resumed: dict[str, Any] | None, device: Any, progress: bool
) -> None:
    """Train ``run`` with config ``cfg`` from scratch or from its ``resumed`` checkpoint, writing
    ``last.pt`` each epoch, then ``final.pt`` and ``train_stats.json``."""
    tcfg = typed.train
    since_reset = reset_peak_rss()  # after any teacher training: this model's own peak
    dist = _init_distributed()
    if device is None:
        device = torch.device("cuda", dist.local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    use_amp = tcfg.amp and device.type == "cuda"
    cpu_dtype = cpu_autocast_dtype(tcfg.precision, device)
    seed_everything(run.seed)

    dataset = BEVDataset(
        load_index(run.dataroot, run.version),
        run.split,
        typed.data,
        train=True,
        seed=run.seed,
        train_corruption=_train_corruption(run.mode, run.seed),
        max_samples=tcfg.max_train_samples,
    )
    model = run.entry.build(cfg).to(device)
    if resumed is None:
        load_pretrained(model)  # e.g. ImageNet backbones; a resumed run's checkpoint holds every weight
    model.train()
    net = _distributed(model, device, dist)
    sampler = _ResumableSampler(dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=run.seed)
    iters_per_epoch = math.ceil(len(sampler) / tcfg.batch_size)
    state = TrainState(model, tcfg, tcfg.epochs * iters_per_epoch, use_amp, cfg, run.meta)
    if resumed is not None:
        state.load_state_dict(resumed)

    runtime = _Runtime(net, device, cpu_dtype, use_amp, dist, run.out / LAST_CKPT, tcfg.checkpoint_every)
    bar = _progress_bar(tcfg.epochs * iters_per_epoch, state.iteration, run.entry.name, progress and dist.main)
    try:
        for epoch in range(state.iteration // iters_per_epoch, tcfg.epochs):
            start = (state.iteration - epoch * iters_per_epoch) * tcfg.batch_size
            train_one_epoch(state, _epoch_loader(dataset, sampler, tcfg, run.seed, epoch, start, device), runtime, bar)
            runtime.checkpoint(state, runtime.last)
    finally:
        eval_input_cache().clear()  # the training split's inputs: an evaluation in this process needs the room
    bar.close()
    runtime.checkpoint(state, run.out / FINAL_CKPT)
    if dist.main:
        precision = str(cpu_dtype or (torch.float16 if use_amp else torch.float32)).removeprefix("torch.")
        _write_stats(run.out / STATS_FILE, state, len(dataset), dist, device, precision, since_reset)
    if dist.world > 1:
        torch.distributed.barrier()
        if dist.owns_group:
            torch.distributed.destroy_process_group()


def _distributed(model: torch.nn.Module, device: torch.device, dist: _Dist) -> torch.nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` under ``torchrun``; ``model`` itself otherwise."""
    if dist.world <= 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
    )


def _progress_bar(total: int, done: int, name: str, show: bool) -> Any:
    """The run's ``tqdm`` bar of iterations (a silent one unless ``show``)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"train {name}", unit="it", disable=not show, dynamic_ncols=True)


def loader_workers(setting: int | str) -> int:
    """Data-loader processes for ``train.num_workers``: a number as given; ``auto`` loads in the
    training process (0) where it may use at most 2 CPUs and uses 2 workers elsewhere.

    On 2 cores the workers and the training step's threads share the cores, and in-process
    loading was faster with the same batches (``benchmarks/train_data_bench.py``); it also keeps
    the process's input cache (decoded views, projected LiDAR points) across epochs, which
    workers (new each epoch) cannot. Larger machines keep the workers (not measured there).
    """
    if setting != "auto":
        return int(setting)
    return 0 if usable_cpus() <= 2 else 2


def _epoch_loader(
    dataset: BEVDataset,
    sampler: _ResumableSampler,
    tcfg: TrainConfig,
    seed: int,
    epoch: int,
    start: int,
    device: torch.device,
) -> DataLoader:
    """The data loader of ``epoch``, skipping its first ``start`` samples (those a resumed run has seen).

    The order is a function of ``(seed, epoch)`` and each item's augmentation of ``(seed, epoch, token)``.
    """
    dataset.set_epoch(epoch)
    sampler.set_epoch(epoch)
    sampler.start = start
    return DataLoader(
        dataset,
        batch_size=tcfg.batch_size,
        sampler=sampler,
        num_workers=loader_workers(tcfg.num_workers),
        collate_fn=collate,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed * 10007 + epoch),
        pin_memory=device.type == "cuda",
    )


def _write_stats(
    path: Path, state: TrainState, samples: int, dist: _Dist, device: torch.device, precision: str, since_reset: bool
) -> None:
    """``train_stats.json``: the run's meta, size, device and precision, wall time, peak memory and loss curves."""
    write_json_atomic(
        {
            **state.meta,
            "iterations": state.iteration,
            "samples": samples,
            "world_size": dist.world,
            "device": str(device),
            "precision": precision,
            "wall_time_s": round(state.elapsed, 2),
            **_peak_memory_mb(device, since_reset),
            "final_loss": state.history[-1] if state.history else None,
            "loss_history": state.history,
            "loss_terms": state.loss_terms,
            "config": state.config,
            "torch": torch.__version__,
        },
        path,
        indent=2,
    )


def forward_and_loss(
    net: torch.nn.Module,
    model: torch.nn.Module,
    batch: dict[str, Any],
    device: torch.device,
    cpu_dtype: torch.dtype | None,
    cuda_amp: bool,
) -> dict[str, torch.Tensor]:
    """The named losses of one training step's forward pass, under the run's autocast.

    ``net`` is ``model`` or its DDP wrapper. With CUDA AMP the losses run inside the float16
    autocast as before; with a CPU ``cpu_dtype`` (bfloat16) only the forward does, and the
    losses read its outputs cast to float32 outside it (:func:`robobench.precision.to_float32`).
    """
    with autocast(device, cpu_dtype, cuda_amp):
        outputs = net(batch)
        if cpu_dtype is None:
            return model.loss(batch, outputs)
    return model.loss(batch, to_float32(outputs))


def teacher_run_dir(student_out: Path, teacher: str, profile: str, mode: TrainMode, seed: int) -> Path:
    """Where :func:`train_entry` trains the teacher of a student trained into ``student_out``:
    ``<parent>/teachers/<teacher>-<profile>-<mode>-s<seed>``, shared by the students of one folder."""
    return student_out.parent / TEACHERS_DIR / f"{teacher}-{profile}-{mode.value}-s{seed}"


def _with_teacher_checkpoint(run: _Run, cfg: dict[str, Any], device: Any, progress: bool) -> dict[str, Any]:
    """``cfg`` with ``teacher_checkpoint`` set: the given one (must exist), else the teacher trained
    (or resumed, or reused when finished) in :func:`teacher_run_dir` with the same profile, mode and seed."""
    entry = run.entry
    given = cfg.get(TEACHER_CHECKPOINT_KEY)
    if given:
        if not Path(given).is_file():
            raise UserError(
                f"{TEACHER_CHECKPOINT_KEY} {given} of entry {entry.name!r} does not exist; "
                f"train {entry.teacher!r} first"
            )
        return cfg
    final = train_entry(
        entry.teacher,
        run.profile,
        run.mode,
        run.seed,
        dataroot=run.dataroot,
        version=run.version,
        split=run.split,
        out_dir=teacher_run_dir(run.out, entry.teacher, run.profile, run.mode, run.seed),
        resume=True,
        device=device,
        progress=progress,
    )
    return {**cfg, TEACHER_CHECKPOINT_KEY: str(final)}


def _check_finite(loss: torch.Tensor, terms: dict[str, torch.Tensor], iteration: int, last: Path, dist: _Dist) -> None:
    """Raise :class:`NonFiniteLoss` (on every rank at once under DDP) when ``loss`` is NaN/inf."""
    bad = torch.tensor(0.0 if torch.isfinite(loss.detach()).item() else 1.0, device=loss.device)
    if dist.world > 1:
        torch.distributed.all_reduce(bad)
    if bad.item() == 0:
        return
    values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
    kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint had been written yet"
    raise NonFiniteLoss(
        f"loss is not finite at iteration {iteration} ({values}); training stopped and {kept}. "
        "Lower train.lr, raise train.warmup_iters or train.grad_clip, then resume"
    )
