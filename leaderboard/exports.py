"""Machine- and paper-friendly copies of the main results table: CSV, JSON, Markdown, LaTeX.

Values are percentages (NDS, mAP, RR, mRR, mCE, as papers print them) except depth
AbsRel (a ratio) and the training wall time (hours). A partial value is never written as a number in the flat formats:
CSV leaves it empty and lists the missing conditions, Markdown/LaTeX print
"partial"; JSON keeps the partial mean with ``"partial": true`` and the list.

Every aggregate carries its 95 % interval and what it is over (``seeds``: Student t over
training seeds; ``scenes``: one seed, scene-bootstrap percentiles, evaluation noise only):
``ci`` and ``ci_kind`` in JSON, ``<metric>_ci_low``/``_ci_high``/``_ci_kind`` in CSV. A
tested gain over the base entry carries Welch's interval and p-value and the minimum
detectable effect at its seed counts (``gain_*_ci_low``/``_ci_high``/``_p``/``_mde``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from leaderboard.model import GAIN_ALPHA, Board, Column, Group, Stat

#: Columns shown as they are, with their decimals (depth ratios, training hours); the others are x100 (percent).
UNSCALED_DIGITS = {"absrel_clean": 3, "absrel_corrupted": 3, "train_h": 2}


def scale_of(key: str) -> float:
    """100 for percentage metrics, 1 for depth ratios and hours."""
    return 1.0 if key in UNSCALED_DIGITS else 100.0


def digits_of(key: str) -> int:
    return UNSCALED_DIGITS.get(key, 1)


def format_stat(st: Stat | None, key: str, with_std: bool = True) -> str:
    """``37.4``, ``37.4 ± 0.3`` (several seeds), ``partial`` or ``""`` (no value)."""
    if st is None or st.mean is None:
        return "partial" if st is not None and st.partial else ""
    if st.partial:
        return "partial"
    s, d = scale_of(key), digits_of(key)
    text = f"{s * st.mean:.{d}f}"
    if with_std and st.std is not None:
        text += f" ± {s * st.std:.{d}f}"
    return text


def format_ci(st: Stat | None, key: str) -> str:
    """``95 % interval 31.6 to 37.0 (over 3 seeds)`` or ``""`` when the value has no interval."""
    if st is None or st.ci is None or not st.complete:
        return ""
    s, d = scale_of(key), digits_of(key)
    over = (
        f"over {st.n} seeds, Student t"
        if st.ci_kind == "seeds"
        else "scene bootstrap of one seed: evaluation noise only"
    )
    return f"95 % interval {s * st.ci[0]:.{d}f} to {s * st.ci[1]:.{d}f} ({over})"


def gain_within_spread(key: str, gain_p: Mapping[str, float]) -> bool:
    """True when the gain ``key`` was tested against the seed spread and not found larger (p >= GAIN_ALPHA)."""
    return key in gain_p and gain_p[key] >= GAIN_ALPHA


def gain_significance(key: str, gain_p: Mapping[str, float]) -> str:
    """How a gain compares with the seed spread: ``p=0.003``, ``n.s. p=0.41`` (Welch, see
    :func:`leaderboard.model.build_board`), or ``""`` when it was not tested (one seed on a side)."""
    if key not in gain_p:
        return ""
    return f"{'n.s. ' if gain_within_spread(key, gain_p) else ''}p={gain_p[key]:.2g}"


def format_gain(
    gain: dict[str, float],
    gain_p: Mapping[str, float] | None = None,
    gain_ci: Mapping[str, tuple[float, float]] | None = None,
    gain_mde: Mapping[str, float] | None = None,
) -> str:
    """``+1.2 NDS [-2.0, +4.4] (n.s. p=0.41, MDE 5.1), +2.5 mRR`` (percentage points over the base
    entry, with Welch's interval, the seed-spread test of :func:`gain_significance` and the
    minimum detectable effect where there is one)."""
    names = {"nds": "NDS", "mrr": "mRR"}
    parts = []
    for k, v in gain.items():
        sig = gain_significance(k, gain_p or {})
        text = f"{v:+.1f} {names[k]}"
        if gain_ci and k in gain_ci:
            text += f" [{gain_ci[k][0]:+.1f}, {gain_ci[k][1]:+.1f}]"
        notes = [sig] if sig else []
        if gain_mde and k in gain_mde:
            notes.append(f"MDE {gain_mde[k]:.1f}")
        parts.append(text + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def _ident(g: Group) -> dict[str, Any]:
    return {
        "entry": g.entry,
        "kind": "reference" if g.reference else "measured",
        "role": g.meta.role,
        "train_mode": g.train_mode,
        "dataset": g.dataset_id,
        "profile": g.profile,
        "base": g.meta.base or "",
        "teacher": g.meta.teacher or "",
        "source": g.meta.paper if g.reference else "",
        "seeds": len(g.seeds),
    }


def _columns(board: Board) -> list[Column]:
    return [c for c in board.columns if any(c.key in g.metrics for g in board.groups)]


def to_records(board: Board) -> list[dict[str, Any]]:
    """One JSON-ready record per leaderboard line, with mean/std/partial per metric."""
    out = []
    for g in board.groups:
        rec = _ident(g)
        for col in _columns(board):
            st = g.metrics.get(col.key)
            if st is None:
                continue
            s = scale_of(col.key)
            rec[col.key] = {
                "mean": None if st.mean is None else s * st.mean,
                "std": None if st.std is None else s * st.std,
                "n": st.n,
                "ci": None if st.ci is None else [s * st.ci[0], s * st.ci[1]],
                "ci_kind": st.ci_kind,
                "partial": st.partial,
                "missing": list(st.missing),
                "note": st.note,
            }
        rec["gain"] = g.gain
        rec["gain_p"] = g.gain_p
        rec["gain_ci"] = {k: list(v) for k, v in g.gain_ci.items()}
        rec["gain_mde"] = g.gain_mde
        rec["train_ratio"] = g.train_ratio
        out.append(rec)
    return out


def to_json(board: Board) -> str:
    """The records plus which entry mCE is measured against."""
    doc = {
        "units": (
            "percent, except absrel_* (ratio), train_h (hours) and train_ratio (training time over the base entry's)"
        ),
        "baseline": board.baseline.entry if board.baseline else None,
        "reference_baseline": board.reference_baseline.entry if board.reference_baseline else None,
        "rows": to_records(board),
    }
    return json.dumps(doc, indent=2, sort_keys=False)


def to_csv(board: Board) -> str:
    """Flat table; partial metrics are empty and their missing conditions listed in ``missing``."""
    cols = _columns(board)
    buf = io.StringIO()
    ident = list(_ident_keys())
    writer = csv.writer(buf, lineterminator="\n")
    spread = [c.key for c in cols if c.key in _SPREAD_KEYS]
    writer.writerow(
        ident
        + [c.key for c in cols]
        + [f"{k}_std" for k in spread]
        + [f"{k}_{part}" for k in spread for part in ("ci_low", "ci_high", "ci_kind")]
        + ["gain_nds", "gain_mrr", "gain_nds_p", "gain_mrr_p"]
        + [f"gain_{k}_{part}" for k in ("nds", "mrr") for part in ("ci_low", "ci_high", "mde")]
        + ["missing"]
    )
    for g in board.groups:
        ident_vals = list(_ident(g).values())
        vals, stds, cis, missing = [], [], [], set()
        for c in cols:
            st = g.metrics.get(c.key)
            ok = st is not None and st.complete
            vals.append(f"{scale_of(c.key) * st.mean:.4f}" if ok else "")
            if c.key in _SPREAD_KEYS:
                stds.append(f"{scale_of(c.key) * st.std:.4f}" if ok and st.std is not None else "")
                has_ci = ok and st.ci is not None
                cis += [f"{scale_of(c.key) * v:.4f}" if has_ci else "" for v in (st.ci or (0, 0))]
                cis.append(st.ci_kind if has_ci else "")
            if st is not None:
                missing.update(st.missing)
        gains = [f"{g.gain[k]:.4f}" if k in g.gain else "" for k in ("nds", "mrr")]
        gains += [f"{g.gain_p[k]:.4g}" if k in g.gain_p else "" for k in ("nds", "mrr")]
        for k in ("nds", "mrr"):
            gains += [f"{v:.4f}" for v in g.gain_ci[k]] if k in g.gain_ci else ["", ""]
            gains.append(f"{g.gain_mde[k]:.4f}" if k in g.gain_mde else "")
        writer.writerow(ident_vals + vals + stds + cis + gains + ["; ".join(sorted(missing))])
    return buf.getvalue()


#: Columns whose spread (std, interval) the CSV carries.
_SPREAD_KEYS = ("nds", "map", "mrr", "mce")


def _ident_keys() -> tuple[str, ...]:
    return ("entry", "kind", "role", "train_mode", "dataset", "profile", "base", "teacher", "source", "seeds")


def _main_columns(board: Board) -> list[Column]:
    """The accuracy and robustness columns papers print (no depth, no training cost)."""
    return [c for c in _columns(board) if not c.key.startswith("absrel") and c.ranked]


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(board: Board) -> str:
    """A GitHub-flavoured Markdown table of the main results; best values in bold."""
    cols = _main_columns(board)
    head = ["Entry", "Role", "Train"] + [c.label for c in cols] + ["Gain over base"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * len(cols) + ["---"]) + "|"]
    for g in board.groups:
        cells = [_md_escape(g.entry) + (" (published)" if g.reference else ""), g.meta.role or "", g.train_mode]
        for c in cols:
            text = format_stat(g.metrics.get(c.key), c.key)
            cells.append(f"**{text}**" if g.key in board.best.get(c.key, ()) else text)
        cells.append(format_gain(g.gain, g.gain_p, g.gain_ci, g.gain_mde))
        lines.append("| " + " | ".join(_md_escape(x) if i > 0 else x for i, x in enumerate(cells)) + " |")
    note = (
        "Values in percent, mean ± sample std over seeds (95 % intervals in results.csv and results.json). "
        "Gain over base: percentage points [Welch's 95 % interval] (p-value; MDE, the smallest gain the test sees "
        "80 % of the time at these seed counts). mCE against "
        + (board.baseline.entry if board.baseline else "no baseline")
        + "."
    )
    return "\n".join(lines) + "\n\n" + _md_escape(note) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in free text (entry names)."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(board: Board) -> str:
    """A booktabs ``tabular`` of the main results (needs ``\\usepackage{booktabs}``); best in bold."""
    cols = _main_columns(board)
    spec = "l" + "r" * len(cols)
    out = [
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(["Method"] + [latex_escape(c.label) for c in cols]) + r" \\",
        r"\midrule",
    ]
    for g in board.groups:
        if g.reference and g is board.references[0]:
            out.append(r"\midrule")
        name = latex_escape(g.entry) + (r"$^\dagger$" if g.reference else "")
        if g.train_mode != "clean":
            name += " (" + latex_escape(g.train_mode) + ")"
        cells = [name]
        for c in cols:
            text = latex_escape(format_stat(g.metrics.get(c.key), c.key)).replace("±", r"$\pm$")
            cells.append(r"\textbf{" + text + "}" if g.key in board.best.get(c.key, ()) and text else text or "--")
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", "% values in percent; $^\\dagger$ published reference rows"]
    return "\n".join(out) + "\n"
