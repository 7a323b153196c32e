"""What this machine lets a run use, for the settings that adapt to it (loader workers, threads per cell)."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity set where the OS has one (a container's or
    ``taskset``'s limit), else every CPU of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
