"""Index cache: reading the checked ``.npz`` arrays against reading the former pickle.

The index of every sample is loaded at the start of each train, predict and sweep cell,
so the safe format must not make that noticeably slower. Builds the index of a
synthetic world once, then times, in one process and alternating A/B/A, writing and
reading the same records as a pickle (the format before, which ran any code planted in
it) and as the ``.npz`` cache (:func:`robobench.data.index._encode` / ``_read_cache``,
every check included), and prints the file sizes and the ratios.

Usage: ``python benchmarks/index_cache_bench.py [--preset tiny] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from robobench.data.index import _atomic_savez, _encode, _read_cache, load_index
from robobench.data.synth import VERSION, generate


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny", help="synthetic world preset (default tiny)")
    parser.add_argument("--dataroot", type=Path, default=None, help="an existing world instead of generating one")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dataroot or generate(Path(tmp) / "world", preset=args.preset, seed=0)
        index = load_index(root, VERSION, cache_dir=Path(tmp) / "cache")
        records, splits = index.records, {"synth_val": index.split_tokens("synth_val")}
        pkl, npz = Path(tmp) / "index.pkl", Path(tmp) / "index.npz"

        def write_pickle() -> None:
            pkl.write_bytes(pickle.dumps({"records": records, "splits": splits}, protocol=pickle.HIGHEST_PROTOCOL))

        def write_npz() -> None:
            _atomic_savez(_encode(VERSION, records, splits), npz)

        def read_pickle() -> object:
            return pickle.loads(pkl.read_bytes())

        def read_npz() -> object:
            out = _read_cache(npz, VERSION)
            assert out is not None and len(out[0]) == len(records)
            return out

        results: dict[str, list[float]] = {
            name: [] for name in ("write pickle", "write npz", "read pickle", "read npz")
        }
        for _ in range(2):  # A, B, A, B: drift on a shared machine shows as a spread between rounds
            results["write pickle"].append(timed(write_pickle, args.repeats))
            results["write npz"].append(timed(write_npz, args.repeats))
            results["read pickle"].append(timed(read_pickle, args.repeats))
            results["read npz"].append(timed(read_npz, args.repeats))
        print(
            f"{len(records)} samples; pickle {pkl.stat().st_size / 1e6:.2f} MB, npz {npz.stat().st_size / 1e6:.2f} MB"
        )
        for name, values in results.items():
            print(f"{name:13s} {' '.join(f'{1e3 * v:8.2f} ms' for v in values)}")
        for op in ("write", "read"):
            ratio = statistics.fmean(results[f"{op} npz"]) / statistics.fmean(results[f"{op} pickle"])
            print(f"{op}: npz / pickle = {ratio:.2f}")


if __name__ == "__main__":
    main()
