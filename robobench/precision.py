"""Numeric precision of training and inference: float32, or bfloat16 autocast on CPUs that have it.

``train.precision`` (:class:`robobench.train.TrainConfig`) selects it, for training and for
prediction with the trained model:

* ``fp32`` (the default): float32 throughout.
* ``bf16``: ``torch.autocast("cpu", dtype=torch.bfloat16)`` on CPU. Convolutions and matrix
  products run in bfloat16 (AMX / AVX512-BF16 kernels); the parts that need float32 cast
  back to it themselves: BEV pooling (the sparse CSR product has no bfloat16 kernel), the
  depth distribution, the detection losses and decoding. Without native bfloat16 units
  (:func:`cpu_bf16_native`) bfloat16 is emulated and slower than float32, so the run falls
  back to float32 with a warning.
* ``auto``: ``bf16`` where :func:`cpu_bf16_native` is true, ``fp32`` elsewhere.

On CUDA the float16 AMP of ``train.amp`` applies as before and ``precision`` is ignored.
The default stays ``fp32``: bfloat16 ``bevdet`` at ``full`` kept clean NDS and mRR within the seed
spread of float32 (README's precision section; two seeds against three, so only differences far
above the papers' would show), and switching would change the configuration, and so the numbers,
of every reference run.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import torch

from robobench.errors import UserError

#: The values ``train.precision`` accepts.
Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

#: ``/proc/cpuinfo`` flags of native bfloat16 arithmetic (Intel AMX tiles, AVX512-BF16).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> set[str]:
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16).

    Asks torch's own CPU probes (what its oneDNN kernels dispatch on) and falls back to the
    ``/proc/cpuinfo`` flags where a torch build lacks them.
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if all(callable(p) for p in probes):
        return any(p() for p in probes)
    return bool(_cpuinfo_flags() & set(BF16_CPU_FLAGS))


def check_precision(value: str) -> str:
    """``value`` if it is one of :data:`PRECISIONS`, else a ``UserError`` naming the choices."""
    if value not in PRECISIONS:
        raise UserError(f"train.precision must be one of {list(PRECISIONS)}, got {value!r}")
    return value


def cpu_autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``precision`` gives on ``device`` (``None``: float32, no autocast).

    Only CPUs get a dtype here; CUDA keeps its float16 AMP switch (``train.amp``).
    """
    check_precision(precision)
    if device.type != "cpu" or precision == "fp32":
        return None
    native = cpu_bf16_native()
    if precision == "bf16" and not native:
        warnings.warn(
            "train.precision=bf16 but this CPU has no native bfloat16 (AMX / AVX512-BF16); running in float32",
            stacklevel=2,
        )
    return torch.bfloat16 if native else None


@contextlib.contextmanager
def autocast(device: torch.device, cpu_dtype: torch.dtype | None, cuda_amp: bool = False) -> Iterator[None]:
    """Autocast for one forward pass: ``cpu_dtype`` on CPU, float16 on CUDA when ``cuda_amp``, else nothing."""
    if device.type == "cpu" and cpu_dtype is not None:
        with torch.autocast("cpu", dtype=cpu_dtype):
            yield
    elif device.type == "cuda" and cuda_amp:
        with torch.autocast("cuda", dtype=torch.float16):
            yield
    else:
        yield


def float32_region(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """A context where autocast is off on ``tensor``'s device, for code that must run in float32."""
    return torch.autocast(tensor.device.type, enabled=False)


def to_float32(obj: object) -> object:
    """``obj`` (a nested dict/list/tuple of model outputs) with every low-precision floating tensor cast to float32.

    Losses and decoding read the outputs of an autocast forward through this: focal terms,
    log-probabilities and box regressions lose too much in bfloat16's 8-bit mantissa.
    """
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() and obj.element_size() < 4 else obj
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_float32(v) for v in obj)
    return obj
