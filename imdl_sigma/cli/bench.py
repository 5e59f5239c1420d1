"""`benco bench masks|robustness|detectors|speed`: the paper's tables (imdl_sigma.bench, and
downstream.table2 for the detectors)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInputError
from .flags import ConfigFlags, add_options, given_options, overrides, signature_options
from .options import (add_baseline_checkpoints, add_grounding_flags, detector_weights, finetune_flags,
                      grounding_config, method_checkpoints)
from .plugins import load_plugins

HELP = "paper tables: masks, robustness, detectors, speed"
PERTURBATIONS = {"jpeg": "JPEG qualities", "noise": "Gaussian noise σ, images in [0,1]",
                 "blur": "Gaussian blur σ in pixels",
                 "box_blur": "averaging-kernel sides, odd px (e.g. 3,5,7)",
                 "brightness": "top of the output range [0.01, L] levels are mapped onto (e.g. 0.95,0.9,0.8)",
                 "contrast": "top of the input range [0.01, L] stretched onto [0, 1] (e.g. 0.95,0.9,0.8)",
                 "colour_levels": "grey levels kept per channel (e.g. 32,64,128)"}


def add_arguments(parser) -> None:
    tables = parser.add_subparsers(dest="bench", metavar="TABLE", required=True)
    add_masks(tables.add_parser("masks", help="Table 1: mask quality of SIGMA and the baselines"))
    add_speed(tables.add_parser("speed", help="pairs/s per annotation stage and end to end (CPU, or a GPU)"))
    add_robustness(tables.add_parser("robustness", help="Fig. 4: F1 under JPEG, noise and blur (CSV + PNG)"))
    add_detectors(tables.add_parser("detectors",
                                    help="Table 2: detectors with public weights vs fine-tuned on SIGMA data"))


def run(args) -> int:
    return {"masks": run_masks, "speed": run_speed, "robustness": run_robustness,
            "detectors": run_detectors}[args.bench](args)


def add_masks(parser) -> None:
    from ..bench.masks import TABLE1_METHODS, run_bench_masks

    parser.add_argument("--pairs", action="append", required=True,
                        help="pairs manifest with ground-truth masks, NAME=MANIFEST, or a registered dataset name; "
                             "repeat for the Table 1 columns (cocoglide, autosplice, magicbrush, deal300k, opensdi)")
    parser.add_argument("--methods", default=",".join(TABLE1_METHODS),
                        help="comma-separated: pixdiff-fixed[@TAU], pixdiff-morph, pixdiff-otsu, sigma, "
                             "ddpm-cd, meta-cd (the last two with their --NAME-checkpoint)")
    add_baseline_checkpoints(parser)
    parser.add_argument("--out", required=True)
    add_options(parser, signature_options(run_bench_masks, ("save_masks", "batch_size"), {
        "save_masks": "also write DIR/<method>/<id>.png"}))


def run_masks(args) -> int:
    from ..bench.masks import run_bench_masks

    run_bench_masks(args.pairs, args.methods.split(","), args.out, checkpoints=method_checkpoints(args),
                    sigma_overrides=overrides(args, "--sigma-set"),
                    **given_options(args, ("save_masks", "batch_size")))
    print((Path(args.out) / "masks.md").read_text(), end="")
    return 0


def add_speed(parser) -> None:
    from ..bench.speed import run_speed

    parser.add_argument("--pairs", required=True)
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    add_options(parser, signature_options(run_speed, ("batch_size", "limit", "workers"),
                                          {"limit": "pairs to time",
                                           "workers": "decode worker processes end to end (default: as annotate)"}))
    add_grounding_flags(parser)


def run_speed(args) -> int:
    from ..bench.speed import run_speed

    print(json.dumps(run_speed(args.pairs, args.checkpoint, grounding=grounding_config(args, required=False),
                               **given_options(args, ("batch_size", "limit", "workers"))), indent=2))
    return 0


def robustness_flags() -> ConfigFlags:
    from ..bench.robustness import RobustnessConfig

    return ConfigFlags(RobustnessConfig)


def add_robustness(parser) -> None:
    from ..bench.robustness import FIG4_METHODS, RobustnessConfig, run_robustness

    parser.add_argument("--pairs", required=True, help="pairs manifest with ground-truth masks")
    parser.add_argument("--methods", default=",".join(FIG4_METHODS))
    add_baseline_checkpoints(parser)
    parser.add_argument("--out", required=True)
    levels = RobustnessConfig().levels
    for kind, what in PERTURBATIONS.items():
        default = ','.join(f'{level:g}' for level in levels[kind]) if kind in levels else "skipped"
        parser.add_argument(f"--{kind.replace('_', '-')}", dest=kind,
                            help=f"{what}, comma-separated ('' to skip; default: {default})")
    robustness_flags().add(parser)
    add_options(parser, signature_options(run_robustness, ("batch_size",), {}))


def run_robustness(args) -> int:
    from ..bench.robustness import run_robustness

    config = robustness_flags().build(args)
    config.levels = perturbation_levels(args, config.levels)
    rows = run_robustness(args.pairs, args.methods.split(","), args.out, checkpoints=method_checkpoints(args),
                          config=config, sigma_overrides=overrides(args, "--sigma-set"), **given_options(args, ("batch_size",)))
    for row in rows:
        print(f"{row['kind']:6s} {str(row['level']):6s} {row['method']:20s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}")
    print(Path(args.out) / "robustness.png")
    return 0


def perturbation_levels(args, defaults: dict) -> dict:
    """Each perturbation's levels: its flag's comma-separated numbers, none for '', the default
    (Fig. 4's three kinds) when the flag is not given."""
    levels = {}
    for kind in PERTURBATIONS:
        text = getattr(args, kind)
        if text is None and kind in defaults:
            levels[kind] = defaults[kind]
        elif text:
            try:
                levels[kind] = tuple(float(level) for level in text.split(","))
            except ValueError:
                raise BadInputError(f"--{kind.replace('_', '-')} takes comma-separated numbers, not '{text}'") from None
    return levels


def add_detectors(parser) -> None:
    parser.add_argument("--models", default="cat_net,mvss_net,iml_vit,pscc_net,trufor,mtcl")
    parser.add_argument("--train", default="sigma_1m", help="training set (registered name or path)")
    parser.add_argument("--tests", default="autosplice,cocoglide,deal300k,magicbrush,opensdi",
                        help="comma-separated test sets: registered names or NAME=PATH")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", action="append", metavar="MODEL.ROLE=FILE",
                        help="public weights per detector, e.g. trufor.noiseprint=np++.pth")
    parser.add_argument("--random-init", action="store_true", help="random weights (protocol smoke runs)")
    finetune_flags().add(parser.add_argument_group("fine-tuning (downstream.finetune.FinetuneConfig)"))


def run_detectors(args) -> int:
    from downstream.table2 import run_table2, test_sets

    load_plugins()  # the detectors are built by name from IMDL-BenCo's MODELS
    run_table2(args.models.split(","), args.train, test_sets(args.tests.split(",")), args.out,
               finetune_flags().build(args), weights=detector_weights(args.weights), random_init=args.random_init)
    print((Path(args.out) / "table2.md").read_text(), end="")
    return 0
