"""What checking every record costs when a results store is read, same store, same run.

The store checks each record it reads (:func:`robobench.schema.check_result_row` and the
others) so that a bad row an older version left is one message, not NaN on the
leaderboard. This imports the reference results (``reference-results/*/*.json``) into a
temporary store and times ``ResultStore.rows()`` (what the leaderboard and a sweep's
summary read) with the checks and with them switched off, alternating checked and
unchecked runs, and prints the best of ``--repeat`` runs of each and their ratio.

Run: ``python benchmarks/store_check_bench.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import robobench.store as store_mod
from robobench.store import ResultStore

REFERENCE = Path(__file__).resolve().parents[1] / "reference-results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each path (default 5)")
    args = parser.parse_args()
    checks = dict(store_mod._CHECKS)
    unchecked = {cls: (lambda record: None) for cls in checks}
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(Path(tmp) / "results.sqlite")
        n = sum(store.import_json(path) for path in sorted(REFERENCE.glob("*/*.json")))
        timings: dict[str, list[float]] = {"checked": [], "unchecked": []}
        for _ in range(args.repeat):
            for name, table in (("checked", checks), ("unchecked", unchecked)):
                store_mod._CHECKS.update(table)
                start = time.perf_counter()
                rows = store.rows()
                timings[name].append(time.perf_counter() - start)
        store_mod._CHECKS.update(checks)
        store.close()
    assert len(rows) == n
    best = {k: min(v) for k, v in timings.items()}
    print(f"{n} rows from {REFERENCE.name}/, ResultStore.rows(), best of {args.repeat}")
    print(f"checked:   {1e3 * best['checked']:8.1f} ms")
    print(f"unchecked: {1e3 * best['unchecked']:8.1f} ms")
    print(f"checked / unchecked: {best['checked'] / best['unchecked']:.3f}")


if __name__ == "__main__":
    main()
