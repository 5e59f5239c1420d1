"""`benco finetune`: an IMDL-BenCo detector, built by name from IMDL-BenCo's MODELS once `registry` is
imported (cli/plugins.py), fine-tuned on a (SIGMA-annotated) dataset."""

from __future__ import annotations

from pathlib import Path

from .flags import parse_pairs
from .options import finetune_flags
from .plugins import load_plugins

HELP = "fine-tune an IMDL-BenCo detector on a (SIGMA-annotated) dataset"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="cat_net, mvss_net, iml_vit, pscc_net, trufor or mtcl")
    parser.add_argument("--data", help="training set: a registered name (sigma_1m), a dataset.json, a ManiDataset "
                        "folder or a pairs manifest; without it the weights (public, or --resume's) are only scored")
    parser.add_argument("--test-data", action="append", metavar="NAME[=PATH]",
                        help="test set (repeatable): registered name, or NAME=dataset.json/folder/pairs.jsonl")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", action="append", metavar="ROLE=FILE",
                        help="public weights, e.g. noiseprint=np++.pth (the error names what a model needs)")
    parser.add_argument("--random-init", action="store_true", help="train from random weights (no files needed)")
    parser.add_argument("--resume", help="checkpoint-last.pth of an interrupted run (or, without --data, of a "
                        "finished one to score)")
    parser.add_argument("--small", action="store_true",
                        help="the detector's shallow variant, random weights (MTCL: a tiny MiT encoder; "
                             "CAT-Net: one block per stage; IML-ViT: ViT-Ti width, a narrow pyramid and head)")
    finetune_flags().add(parser.add_argument_group("fine-tuning (downstream.finetune.FinetuneConfig)"))


def run(args) -> int:
    from downstream.detectors import detector_spec

    detector_spec(args.model)  # an unknown name fails before IMDL-BenCo is imported
    load_plugins()  # the detectors are built by name from IMDL-BenCo's MODELS
    from downstream.finetune import finetune
    from downstream.table2 import test_sets

    results = finetune(args.model, args.data, test_sets(args.test_data or []), args.out, finetune_flags().build(args),
                       weights=parse_pairs(args.weights, "--weights"), random_init=args.random_init,
                       resume=args.resume, tiny=args.small)
    for name, row in results["tests"].items():
        print(f"{name:16s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}  (n={row['n']})")
    print(Path(args.out) / "results.json")
    return 0
