"""Does a corruption hurt a trained model through what it destroys, or through a global contrast shift?

Fog (imagecorruptions' plasma haze) lifts the black level and compresses contrast; the detail it
hides is modest (its SSIM at 704 px is near Brightness'). A model that relies on absolute intensity
and contrast levels loses far more to it than one that relies on texture. This ablation tells the
two apart without training: it writes the corruption's nuScenes-C images of the validation split,
a copy of them with each view's contrast stretched back (``PIL.ImageOps.autocontrast``, ``--cutoff``
percent clipped at each end), and, as the control for what the stretch itself costs, the clean views
stretched the same way; then it evaluates ``--checkpoint`` on each, level by level, and prints NDS
and RR (NDS / clean NDS) per variant. Restored RR near the clean-stretch control says the model was
hurt by the global shift (a camera's auto-exposure would undo it); restored RR near the corrupted RR
says by what the corruption destroyed.

Usage: ``python benchmarks/contrast_restore_ablation.py --entry bevdet --checkpoint M/final.pt
--dataroot data/synth-realistic --out runs/restore [--corruption Fog] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corruptions import LEVELS  # noqa: E402
from robobench.api import corrupt_dataset, evaluate_results, predict_results  # noqa: E402
from robobench.nuscenes_c import frame_groups  # noqa: E402


def stretch(path: Path, target: Path, cutoff: float) -> None:
    """Write ``path``'s image to ``target`` with its contrast stretched (``cutoff`` % clipped at each end)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    ImageOps.autocontrast(Image.open(path).convert("RGB"), cutoff=cutoff).save(target, quality=95)


def stretched_copy(src: Path, dst: Path, cutoff: float) -> int:
    """Copy every JPEG under ``src`` to the same place under ``dst`` with its contrast stretched."""
    paths = sorted(src.rglob("*.jpg"))
    for path in paths:
        stretch(path, dst / path.relative_to(src), cutoff)
    return len(paths)


def clean_in_slot(dataroot: Path, version: str, split: str, slot: Path, cutoff: float) -> None:
    """The split's clean views, stretched, laid out where nuScenes-C keeps one corruption level."""
    for group in frame_groups(dataroot, version, split):
        for cam, file in zip(group.cameras, group.files):
            stretch(dataroot / file, slot / cam / Path(file).name, cutoff)


def nds_of(args: argparse.Namespace, condition: str, root: Path | None, tag: str) -> float:
    """NDS of the checkpoint under ``condition``, reading corrupted views from ``root``."""
    out = args.out / "predictions" / f"{tag}-{condition.replace(':', '_')}.json"
    predict_results(
        args.entry,
        args.checkpoint,
        condition,
        dataroot=args.dataroot,
        version=args.version,
        split=args.split,
        out=out,
        corrupt_root=root,
        progress=False,
    )
    evaluation = evaluate_results(
        out, dataroot=args.dataroot, version=args.version, split=args.split, conditions=[condition]
    )
    return evaluation.rows[0].nds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Write the three image sets, evaluate every level of each, return NDS and RR per variant."""
    corrupted, restored, control = (args.out / name for name in ("corrupted", "restored", "clean-stretched"))
    corrupt_dataset(args.dataroot, corrupted, version=args.version, split=args.split, corruptions=[args.corruption])
    if not restored.exists():
        stretched_copy(corrupted, restored, args.cutoff)
    slot = control / args.corruption / LEVELS[0]
    if not slot.exists():
        clean_in_slot(args.dataroot, args.version, args.split, slot, args.cutoff)
    clean = nds_of(args, "clean", None, "clean")
    out: dict[str, Any] = {
        "entry": args.entry,
        "corruption": args.corruption,
        "cutoff": args.cutoff,
        "clean_nds": clean,
    }
    out["clean_stretched_nds"] = nds_of(args, f"{args.corruption}:{LEVELS[0]}", control, "clean-stretched")
    for tag, root in (("corrupted", corrupted), ("restored", restored)):
        levels = {lvl: nds_of(args, f"{args.corruption}:{lvl}", root, tag) for lvl in LEVELS}
        out[tag] = {"nds": levels, "rr": 100 * sum(levels.values()) / len(levels) / clean}
    out["clean_stretched_rr"] = 100 * out["clean_stretched_nds"] / clean
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entry", default="bevdet")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--dataroot", type=Path, default=Path("data/synth-default"))
    p.add_argument("--version", default="v1.0-synth")
    p.add_argument("--split", default="synth_val")
    p.add_argument("--corruption", default="Fog")
    p.add_argument("--cutoff", type=float, default=1.0, help="percent of pixels clipped at each end (default 1)")
    p.add_argument("--out", type=Path, required=True, help="folder for the images and predictions")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.out.resolve() == args.dataroot.resolve():
        p.error("--out must not be the dataroot")
    result = run(args)
    print(f"{args.entry} under {args.corruption} (clean NDS {result['clean_nds']:.4f})")
    print(
        f"  clean views stretched:  NDS {result['clean_stretched_nds']:.4f}"
        f"  ({result['clean_stretched_rr']:.1f} % of clean)"
    )
    for tag in ("corrupted", "restored"):
        levels = "  ".join(f"{lvl} {v:.4f}" for lvl, v in result[tag]["nds"].items())
        print(f"  {tag:<10} NDS {levels}  RR {result[tag]['rr']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
