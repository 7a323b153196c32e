"""``robobench sweep --target-mde``: how many seeds a comparison needs, from the stored seed spread."""

from __future__ import annotations

import argparse
import statistics

from robobench import api
from robobench.commands.common import format_table
from robobench.metrics.robustness import TABLE_METRICS


def add_target_args(s: argparse.ArgumentParser) -> None:
    """The ``--target-mde`` options of ``sweep``."""
    s.add_argument(
        "--target-mde",
        type=float,
        default=None,
        metavar="EFFECT",
        help="print how many seeds per entry a two-sided Welch test (5 %%, 80 %% power) needs to detect a "
        "difference of EFFECT (a fraction: 0.03 is 3 NDS or mRR points) between two entries, from the "
        "seed spread stored in the results database (or --target-sd), and stop without running anything",
    )
    s.add_argument(
        "--target-metric",
        choices=tuple(TABLE_METRICS),
        default="nds",
        help="metric of --target-mde: clean NDS, mRR or the mean NDS over the corrupted conditions (default nds)",
    )
    s.add_argument(
        "--target-sd",
        type=float,
        default=None,
        metavar="SD",
        help="with --target-mde: the seed standard deviation to plan for instead of the stored spread",
    )


def plan_seeds(args: argparse.Namespace) -> int:
    """``--target-mde``: print the stored seed spread and the seeds per entry a Welch test needs."""
    from robobench import stats

    plan = api.plan_seeds(
        args.target_mde,
        db=args.db if args.db is not None else args.out / "results.sqlite",
        metric=args.target_metric,
        seeds=len(args.seeds),
        sd=args.target_sd,
        entries=args.entries,
        train_modes=args.train_modes,
        profile=args.profile,
    )
    metric = plan.metric
    if plan.spread:
        print(
            format_table(
                ["entry", "train", "dataset", "seeds", f"{metric} mean", f"{metric} sd"],
                [
                    [e, m, d, len(v), f"{statistics.fmean(v.values()):.4f}", f"{statistics.stdev(v.values()):.4f}"]
                    for (e, m, d, _), v in sorted(plan.spread.items())
                ],
            )
        )
    at = f"{plan.mde_at_seeds:.4f}" if plan.mde_at_seeds is not None else "nothing (one seed has no spread)"
    print(
        f"{metric}: seed sd {plan.sd:.4f} ({plan.source}); a difference of {plan.effect:g} between two entries needs "
        f"{plan.seeds_needed} seeds per entry (two-sided Welch test at {stats.ALPHA:g}, power {stats.POWER:g}); "
        f"at the requested {plan.n_seeds} seed(s) the test sees {at}"
    )
    print(
        f"rerun with --seeds {','.join(str(i) for i in range(plan.seeds_needed))} "
        "(and without --target-mde) to run them"
    )
    return 0
