"""Reproducible randomness for the corruptions.

Every random draw comes from a ``numpy.random.Generator`` whose seed is a SHA-256 hash
of the *seed material* ``(seed, sample token, camera, corruption, severity)``. A stable
hash (not Python's salted ``hash``) makes the same call give the same bytes in any
process, on any worker, in any order: nothing depends on global state.

The reference engine runs third-party code that draws from numpy's *global* random
state; :func:`seeded_global_state` seeds that state from the same material for the
duration of one call and restores the caller's state afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def seed_words(*material: object) -> list[int]:
    """Eight 32-bit words derived from the seed material by SHA-256.

    The parts are joined with an unambiguous separator after ``repr`` so that
    ``("a", "bc")`` and ``("ab", "c")`` hash differently.
    """
    parts = [part.item() if isinstance(part, np.generic) else part for part in material]  # np.int64(3) -> 3
    text = "\x1f".join(repr(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def generator(*material: object) -> np.random.Generator:
    """A PCG64 generator seeded from the seed material."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed_words(*material))))


@contextmanager
def seeded_global_state(*material: object) -> Iterator[None]:
    """Seed numpy's global (legacy) random state from the material; restore it on exit."""
    saved = np.random.get_state()
    np.random.seed(np.array(seed_words(*material), dtype=np.uint32))
    try:
        yield
    finally:
        np.random.set_state(saved)
