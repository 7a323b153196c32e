"""Where the time of a training step and of an evaluation cell goes, stage by stage, against the machine's peak.

For each entry (default ``bevdet``, ``bevdepth``, ``centerpoint`` at the ``full`` profile) on a
real synthetic world:

* **data** (precision-independent, measured once): per item of the training split (with its
  training augmentation) and of the validation split under ``--condition``, the time spent in
  JPEG decoding (``_read_image``), the corruption (``corruptions.corrupt_views``), the image
  augmentation / resize (``apply_image_aug``), LiDAR loading (``BEVDataset._lidar``), the sparse
  depth maps (``BEVDataset._depth_maps``) and the rest of ``__getitem__`` plus ``collate``.
* **training step** per precision (``fp32``, ``bf16``): forward split by sub-module (image network,
  view transform, pillars, BEV network, head; the remainder is "forward other"), loss, backward,
  optimizer (clipping + AdamW), via :func:`robobench.train.forward_and_loss` as training runs it.
* **evaluation** per precision: forward by sub-module, decode (``model.decode``), conversion to
  nuScenes boxes, and the metrics of a whole cell (:class:`DetectionEvaluator` on the split).

The precisions alternate (fp32, bf16, fp32, bf16, ...) in one process and each stage's median is
kept, so the fp32/bf16 ratios are not skewed by the other load of a shared machine. Achieved
FLOP/s is the model's forward+backward FLOPs (``torch.utils.flop_counter``; the sparse BEV pooling
product is not counted) over its measured forward+loss+backward time; the peak is a
``--peak-size`` square matmul in the same dtype on the same threads.

Weights are random unless ``--checkpoint ENTRY=PATH`` is given: decode and metrics time depend on
how many boxes pass the score threshold, so quote them from a trained model.

Usage: ``python benchmarks/stage_profile.py --dataroot data/synth-default [--entries bevdet,centerpoint]
[--steps 3] [--rounds 2] [--threads 2] [--condition Fog:hard]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corruptions  # noqa: E402
import robobench.data.dataset as dataset_mod  # noqa: E402
from distill_step_bench import build_for_training  # noqa: E402  (same folder)
from robobench.conditions import Condition  # noqa: E402
from robobench.data.dataset import BEVDataset, DataConfig, collate  # noqa: E402
from robobench.data.index import load_index  # noqa: E402
from robobench.data.nusc import open_nuscenes  # noqa: E402
from robobench.metrics.detection import DetectionEvaluator  # noqa: E402
from robobench.precision import autocast, cpu_autocast_dtype, to_float32  # noqa: E402
from robobench.predict import detections_to_nusc  # noqa: E402
from robobench.train import TrainConfig, forward_and_loss, load_checkpoint, to_device  # noqa: E402

#: Sub-modules timed as their own stage (attribute name -> stage), wherever they sit in the model.
MODEL_STAGES = {
    "img_encoder": "image network",
    "view_transformer": "view transform",
    "pillars": "pillars (LiDAR)",
    "bev_encoder": "BEV network",
    "head": "head",
}


#: The clock every Stopwatch reads: ``wall`` (``time.perf_counter``) or ``cpu`` (``time.process_time``,
#: all threads of this process: what the code costs whatever else runs on a shared machine).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


class Stopwatch:
    """Accumulated seconds per stage name (one instance per measured unit: a step, an item, a cell)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def time(self, stage: str) -> Iterator[None]:
        """Add the :data:`clock` time of the ``with`` body to ``stage``."""
        start = clock()
        try:
            yield
        finally:
            self.seconds[stage] += clock() - start

    def wrap(self, stage: str, fn: Callable) -> Callable:
        """``fn`` with its calls timed as ``stage``."""

        def timed_fn(*args: Any, **kwargs: Any) -> Any:
            with self.time(stage):
                return fn(*args, **kwargs)

        return timed_fn


def hook_model_stages(model: torch.nn.Module, watch: Callable[[], Stopwatch]) -> list[Any]:
    """Forward hooks timing each :data:`MODEL_STAGES` sub-module, and ``model`` itself as "forward",
    into ``watch()``'s stopwatch."""
    handles, starts = [], {}
    for name, module in model.named_modules():
        stage = MODEL_STAGES.get(name.rsplit(".", 1)[-1]) if name else "forward"
        if stage is None:
            continue

        def pre(mod: torch.nn.Module, args: Any, key: str = name) -> None:
            starts[key] = clock()

        def post(mod: torch.nn.Module, args: Any, out: Any, key: str = name, stage: str = stage) -> None:
            watch().seconds[stage] += clock() - starts.pop(key)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles


@contextlib.contextmanager
def data_stage_timers(watch: Stopwatch) -> Iterator[None]:
    """Time the data pipeline's stages into ``watch`` by wrapping the functions ``BEVDataset`` calls."""
    with contextlib.ExitStack() as stack:
        for owner, attr, stage in (
            (dataset_mod, "_read_image", "JPEG decode"),
            (corruptions, "corrupt_views", "corruption"),
            (dataset_mod, "apply_image_aug", "augment/resize"),
            (BEVDataset, "_lidar", "LiDAR load"),
            (BEVDataset, "_depth_maps", "depth maps"),
        ):
            original = getattr(owner, attr)
            stack.enter_context(mock.patch.object(owner, attr, watch.wrap(stage, original)))
        yield


def profile_data(dataset: BEVDataset, batch_size: int, batches: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Seconds per batch of each data stage (median over ``batches``) and the batches themselves."""
    per_batch, out = [], []
    for b in range(batches):
        watch = Stopwatch()
        with data_stage_timers(watch), watch.time("total"):
            items = [dataset[(b * batch_size + i) % len(dataset)] for i in range(batch_size)]
            out.append(collate(items))
        total = watch.seconds.pop("total")
        watch.seconds["other data"] = total - sum(watch.seconds.values())
        per_batch.append(dict(watch.seconds))
    return median_stages(per_batch), out


def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median over ``runs`` (a stage absent from a run counts 0 there)."""
    keys = {k for run in runs for k in run}
    return {k: statistics.median(run.get(k, 0.0) for run in runs) for k in keys}


def split_forward(seconds: dict[str, float], outer: str | None = None, rest: str | None = None) -> dict[str, float]:
    """One run's stages with the whole forward replaced by "forward other" (what no sub-module stage
    covers) and, when the forward ran inside an ``outer`` stage, that stage replaced by ``rest`` (its time
    outside the forward, e.g. the loss)."""
    out = dict(seconds)
    forward = out.pop("forward")
    if outer is not None:
        out[rest] = out.pop(outer) - forward
    out["forward other"] = forward - sum(out.get(s, 0.0) for s in set(MODEL_STAGES.values()))
    return out


def peak_flops(dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """FLOP/s of a ``size`` x ``size`` matmul in ``dtype`` (best of ``repeats`` after a warm-up)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        a @ b
        best = min(best, clock() - start)
    return 2 * size**3 / best


def train_step_flops(model: torch.nn.Module, batch: dict[str, Any]) -> int:
    """FLOPs of one float32 forward + loss + backward (what FlopCounterMode sees: dense ops)."""
    with FlopCounterMode(display=False) as counter:
        sum(model.loss(batch, model(batch)).values()).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def profile_training(
    name: str, profile: str, dataroot: Path, version: str, steps: int, rounds: int, precisions: list[str]
) -> dict[str, Any]:
    """Data and per-precision training-step stages of entry ``name`` (seconds per step) and FLOPs."""
    cfg, model = build_for_training(name, profile)
    tcfg = TrainConfig.from_dict(cfg["train"])
    data_cfg = DataConfig.from_dict(cfg["data"])
    index = load_index(dataroot, version)
    dataset = BEVDataset(index, "synth_train", data_cfg, train=True, seed=0)
    data, batches = profile_data(dataset, tcfg.batch_size, steps)
    device = torch.device("cpu")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=tcfg.weight_decay)
    current: list[Stopwatch] = [Stopwatch()]
    handles = hook_model_stages(model, lambda: current[0])
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in precisions}
    for _ in range(1 + rounds):  # the first round warms up and is dropped
        for precision in precisions:
            cpu_dtype = cpu_autocast_dtype(precision, device)
            for batch in batches:
                current[0] = watch = Stopwatch()
                with watch.time("forward+loss"):
                    losses = forward_and_loss(model, model, batch, device, cpu_dtype, False)
                    loss = sum(losses.values())
                with watch.time("backward"):
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                with watch.time("optimizer"):
                    torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip)
                    optimizer.step()
                runs[precision].append(split_forward(watch.seconds, "forward+loss", "loss"))
    for h in handles:
        h.remove()
    model_stages = {p: median_stages(rows[len(batches) :]) for p, rows in runs.items()}  # the warm-up round dropped
    return {
        "data": data,
        "model": model_stages,
        "flops": train_step_flops(model, batches[0]),
        "batch_size": tcfg.batch_size,
    }


def profile_eval(
    name: str,
    profile: str,
    dataroot: Path,
    version: str,
    condition: Condition,
    samples: int,
    rounds: int,
    precisions: list[str],
    checkpoint: str | None,
    evaluator: DetectionEvaluator,
) -> dict[str, Any]:
    """Data and per-precision stages of an evaluation cell of entry ``name`` (seconds per sample),
    and its metrics time.
    """
    cfg, model = build_for_training(name, profile)
    if checkpoint:
        model.load_state_dict(load_checkpoint(checkpoint)["model"])
    model = getattr(model, "inference_model", lambda: model)().eval()
    index = load_index(dataroot, version)
    dataset = BEVDataset(index, "synth_val", DataConfig.from_dict(cfg["data"]), condition=condition, seed=0)
    data, batches = profile_data(dataset, 1, samples)
    device = torch.device("cpu")
    current: list[Stopwatch] = [Stopwatch()]
    handles = hook_model_stages(model, lambda: current[0])
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in precisions}
    results: dict[str, list[dict[str, Any]]] = {}
    for _ in range(1 + rounds):
        for precision in precisions:
            cpu_dtype = cpu_autocast_dtype(precision, device)
            for batch in batches:
                current[0] = watch = Stopwatch()
                with torch.no_grad():
                    with autocast(device, cpu_dtype):
                        outputs = to_float32(model(to_device(batch, device)))
                    with watch.time("decode"):
                        dets = model.decode(batch, outputs)
                    with watch.time("to nuScenes boxes"):
                        for token, det in zip(batch["sample_tokens"], dets):
                            results[token] = detections_to_nusc(token, det, index[token].ego2global)
                runs[precision].append(split_forward(watch.seconds))
    for h in handles:
        h.remove()
    model_stages = {p: median_stages(rows[len(batches) :]) for p, rows in runs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        full = {tok: results.get(tok, []) for tok in evaluator.sample_tokens}
        path.write_text(json.dumps({"meta": {"use_camera": True}, "results": full}))
        start = clock()
        evaluator.evaluate(path)
        metrics = clock() - start
    boxes = sum(len(v) for v in results.values()) / max(1, len(results))
    return {
        "data": data,
        "model": model_stages,
        "metrics_s": metrics,
        "boxes_per_sample": boxes,
        "val_samples": len(evaluator.sample_tokens),
    }


def print_table(title: str, columns: dict[str, dict[str, float]], unit_count: int, unit: str) -> None:
    """Stages x columns (seconds per ``unit``), shares of each column's total, and the fp32/bf16 ratio."""
    stages = list(dict.fromkeys(s for col in columns.values() for s in col))
    totals = {c: sum(v.values()) for c, v in columns.items()}
    print(f"\n{title} (seconds per {unit}; share of the column's total)")
    print(
        f"  {'stage':22s}"
        + "".join(f"{c:>20s}" for c in columns)
        + ("   fp32/bf16" if {"fp32", "bf16"} <= set(columns) else "")
    )
    for stage in stages + ["total"]:
        row = f"  {stage:22s}"
        for c, vals in columns.items():
            v = totals[c] if stage == "total" else vals.get(stage, 0.0)
            row += f"{v / unit_count:12.4f} ({100 * v / max(totals[c], 1e-12):4.1f}%)"
        if {"fp32", "bf16"} <= set(columns):
            a = totals["fp32"] if stage == "total" else columns["fp32"].get(stage, 0.0)
            b = totals["bf16"] if stage == "total" else columns["bf16"].get(stage, 0.0)
            row += f"   {a / b:9.2f}x" if b > 0 and a > 0 else ""
        print(row)


def parse_args() -> argparse.Namespace:
    """The command line: which world, entries, profile and precisions, and how many steps and rounds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataroot", type=Path, default=None, help="synthetic world (default: a tiny one in a temporary folder)"
    )
    parser.add_argument("--version", default="v1.0-synth")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--entries", default="bevdet,bevdepth,centerpoint")
    parser.add_argument("--steps", type=int, default=3, help="training batches per precision and round")
    parser.add_argument("--eval-samples", type=int, default=6, help="validation samples per precision and round")
    parser.add_argument(
        "--rounds", type=int, default=2, help="timed rounds of the alternating precisions (after one warm-up round)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--condition", default="Fog:hard", help="condition of the evaluation cell")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--peak-size", type=int, default=2048)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or process CPU time (steadier on a shared machine)",
    )
    parser.add_argument(
        "--checkpoint", action="append", default=[], metavar="ENTRY=PATH", help="trained weights for the evaluation"
    )
    return parser.parse_args()


def report_training(
    name: str, args: argparse.Namespace, dataroot: Path, precisions: list[str], peaks: dict[str, float]
) -> None:
    """Profile and print the training step of entry ``name``: stage times, and model GFLOP/s against ``peaks``."""
    train = profile_training(name, args.profile, dataroot, args.version, args.steps, args.rounds, precisions)
    bs = train["batch_size"]
    print(
        f"\n=== {name} [{args.profile}], training batch {bs}, "
        f"forward+backward {train['flops'] / 1e9:.1f} GFLOP per step"
    )
    print_table("training data", {"": train["data"]}, 1, "batch")
    print_table("training step", train["model"], 1, "step")
    for p, stages in train["model"].items():
        compute = sum(v for k, v in stages.items() if k != "optimizer")
        flops = train["flops"] / compute
        print(
            f"  {p}: model {flops / 1e9:.1f} GFLOP/s = {100 * flops / peaks[p]:.1f} % of the {p} matmul peak; "
            f"step incl. serial data {sum(stages.values()) + sum(train['data'].values()):.2f} s"
        )


def report_eval(
    name: str,
    args: argparse.Namespace,
    dataroot: Path,
    precisions: list[str],
    checkpoint: str | None,
    evaluator: DetectionEvaluator,
) -> None:
    """Profile and print the evaluation cell of entry ``name``: stage times and the cell's estimated time."""
    ev = profile_eval(
        name,
        args.profile,
        dataroot,
        args.version,
        Condition.parse(args.condition),
        args.eval_samples,
        args.rounds,
        precisions,
        checkpoint,
        evaluator,
    )
    print_table(f"evaluation data ({args.condition})", {"": ev["data"]}, 1, "sample")
    print_table("evaluation model", ev["model"], 1, "sample")
    data_s = sum(ev["data"].values())
    for p, stages in ev["model"].items():
        cell = ev["val_samples"] * (data_s + sum(stages.values())) + ev["metrics_s"]
        print(
            f"  {p}: one cell of {ev['val_samples']} samples ~ {cell:.1f} s "
            f"(metrics {ev['metrics_s']:.2f} s at {ev['boxes_per_sample']:.0f} boxes per sample)"
        )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    global clock
    clock = CLOCKS[args.clock]
    precisions = args.precisions.split(",")
    checkpoints = dict(c.split("=", 1) for c in args.checkpoint)
    with contextlib.ExitStack() as stack:
        dataroot = args.dataroot
        if dataroot is None:
            from robobench.data.synth import generate

            dataroot = generate(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "world", preset="tiny")
        evaluator = DetectionEvaluator(open_nuscenes(dataroot, args.version), "synth_val")
        peaks = {
            p: peak_flops(cpu_autocast_dtype(p, torch.device("cpu")) or torch.float32, args.peak_size)
            for p in precisions
        }
        print(
            f"{args.clock} clock; torch {torch.__version__}, {args.threads} threads, "
            f"CPU capability {torch.backends.cpu.get_cpu_capability()}; "
            + ", ".join(f"peak {p} matmul {args.peak_size}^2: {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items())
        )
        for name in args.entries.split(","):
            report_training(name, args, dataroot, precisions, peaks)
            report_eval(name, args, dataroot, precisions, checkpoints.get(name), evaluator)


if __name__ == "__main__":
    main()
