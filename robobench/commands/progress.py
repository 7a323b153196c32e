"""How ``sweep`` and ``demo`` report a running sweep on the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from robobench.commands.common import format_table


class Progress:
    """A sweep's terminal reporting (``sweep``, ``demo``): the plan, a line per finished cell and, unless
    ``bar`` is off, a progress bar on stderr."""

    def __init__(self, db: Path, dry_run: bool, bar: bool = True) -> None:
        self.db, self.dry_run, self.show_bar, self.bar = db, dry_run, bar, None

    def on_plan(self, planned: list, todo: list) -> None:
        n_eval = sum(c.kind == "eval" for c in planned)
        print(
            f"{len(planned)} cells planned ({n_eval} evaluations); {len(todo)} to run, "
            f"{len(planned) - len(todo)} already done or not needed; results in {self.db}"
        )
        if self.dry_run:
            print(format_table(["cell", "model folder"], [[c.id, c.model_dir] for c in todo]))
        elif self.show_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=len(todo), unit="cell", dynamic_ncols=True, file=sys.stderr)

    def on_done(self, outcome: Any) -> None:
        cell = outcome.cell
        detail = f"NDS {outcome.result['nds']:.4f}" if outcome.status == "ok" and cell.kind == "eval" else ""
        if outcome.status != "ok":
            detail = (outcome.error or "").splitlines()[0]
        line = f"[{outcome.status:6s}] {cell.id} ({outcome.wall_time:.1f}s) {detail}".rstrip()
        if self.bar is None:
            print(line)
            return
        self.bar.write(line)
        self.bar.set_postfix_str(cell.id)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
