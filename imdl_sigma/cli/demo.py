"""`benco demo`: the main job end to end on bundled photos (offline, CPU)."""

from __future__ import annotations

from .flags import add_options, given_options, signature_options

HELP = "the main job end to end on bundled photos (offline, CPU)"
OPTIONS = ("out_dir", "n", "seed")


def add_arguments(parser) -> None:
    from ..demo import run_demo

    add_options(parser, signature_options(run_demo, OPTIONS, {
        "out_dir": "output folder (a folder git ignores)", "n": "number of synthetic pairs",
        "seed": "generator seed (unlike `benco synth`'s, so the demo's pairs are never those of a training set "
                "made with defaults)"}), flags={"out_dir": "out"})
    parser.add_argument("--checkpoint", help="checkpoint (default: the bundled stand-in)")


def run(args) -> int:
    from ..demo import run_demo

    summary = run_demo(checkpoint=args.checkpoint, **given_options(args, OPTIONS, {"out_dir": "out"}))
    for method, row in summary["metrics"].items():
        print(f"{method:24s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}  (n={row['n']})")
    print(f"dataset: {summary['dataset']}\npage:    {summary['page']}")
    return 0
