"""Table 3 ablations: SIGMA variants by config switch, trained and scored the same way.

    python -m benchmarks.ablations --train PAIRS --test NAME=PAIRS [--test ...] --out DIR --config standin --steps 300

Every variant is trained by `train_stage1` from the same seed on the same pairs for the same
number of steps, then scored with `bench masks`' scorer on each test set (one column each:
use the project's *validation* pairs, never a public benchmark). `--variants` picks rows by
key. Stage II rows need a VAE and unlabeled pairs; without them they are listed as not run.
Writes DIR/ablations.json and DIR/ablations.md, and the table into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.bench.masks import dataset_manifests
from imdl_sigma.bench.tables import markdown_table
from imdl_sigma.config import SigmaConfig
from imdl_sigma.data.atomic import atomic_write_bytes
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.bench.scoring import score_pairs
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.training.loop import TrainConfig
from imdl_sigma.training.stage1 import train_stage1

from .results import record

VARIANTS = {  # key: (row label, config overrides); the paper's Table 3 switches (Sec. 4.5), then ours
    "full": ("full (multi-scale, 2 DRBs, instruction branch)", {}),
    "single_scale": ("single-scale differencing", {"difference.multi_scale": False}),
    "no_drb": ("no DRB", {"difference.num_blocks": 0}),
    "one_drb": ("1 DRB", {"difference.num_blocks": 1}),
    "no_instruction": ("no instruction branch", {"instruction.enabled": False}),
    "no_pixel_evidence": ("no pixel evidence", {"pixel_evidence.enabled": False}),
    "fusion_stride_1": ("fusion at the input size (stride 1)", {"decoder.fusion_stride": 1}),
    "paper_decoder": ("paper decoder (no pixel evidence, stride 1)",
                      {"pixel_evidence.enabled": False, "decoder.fusion_stride": 1}),
    "no_refine": ("no boundary refinement at the edited size", {"refine.enabled": False}),
    "no_align": ("no photometric alignment of the source", {"align.enabled": False}),
}
INFERENCE_ONLY = ("refine.", "mask_threshold")  # switches that change no weight: scored on `full`'s


def train_and_score(key: str, args, train_config: TrainConfig, test_sets: dict[str, list]) -> dict:
    label, overrides = VARIANTS[key]
    inference_only = bool(overrides) and all(name.startswith(INFERENCE_ONLY) for name in overrides)
    run = Path(args.out) / ("full" if inference_only else key)
    trained = {} if inference_only else overrides
    config = SigmaConfig.preset(args.config).with_overrides({"backbone.image_size": args.size, **trained})
    last = run / "last.pt"
    if not last.is_file():  # a finished variant is not retrained on a rerun
        train_stage1(args.train, str(run), config, train_config, intent_cache=args.intent_cache)
    annotator = Annotator.from_checkpoint(str(last))
    annotator.config = annotator.config.with_overrides(overrides)
    scores = {name: score_pairs(pairs, ["sigma"], {"sigma": annotator}, desc=f"{key} on {name}")["sigma"]
              for name, pairs in test_sets.items()}
    return {"variant": label, "overrides": overrides, "scores": scores}


def ablation_table(rows: list[dict], test_names: list[str]) -> str:
    header = ["Variant"] + [f"{name} F1" for name in test_names] + [f"{name} IoU" for name in test_names]
    cells = [[row["variant"]] + [f"{row['scores'][n][metric]:.2f}" for metric in ("f1", "iou") for n in test_names]
             for row in rows]
    stage2 = ["+ Stage II", "not run: needs a Stable Diffusion VAE (--vae) and unlabeled pairs"]
    return markdown_table(header, cells + [stage2 + [""] * (len(header) - 2)])


def test_sets(items: list[str]) -> dict[str, list]:
    """`--test` values (as `bench masks --pairs` takes them) → labelled pairs per set."""
    return {name: [p for p in read_manifest(str(path)) if p.mask is not None]
            for name, path in dataset_manifests(items).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True, help="Stage I pairs manifest (with masks)")
    parser.add_argument("--test", action="append", required=True,
                        help="NAME=MANIFEST of pairs with masks (repeatable: one column each)")
    parser.add_argument("--variants", default="full,single_scale,no_drb,one_drb,no_instruction",
                        help=f"comma-separated row keys: {', '.join(VARIANTS)}")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default="standin")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--intent-cache", help="`benco ground` cache (the instruction rows mean little without one)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    train_config = TrainConfig(max_steps=args.steps, batch_size=args.batch, lr=args.lr, warmup_steps=20,
                               num_workers=1, save_every_steps=10**9)
    keys = [key.strip() for key in args.variants.split(",") if key.strip()]
    unknown = [key for key in keys if key not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    sets = test_sets(args.test)
    rows = [train_and_score(key, args, replace(train_config), sets) for key in keys]
    table = ablation_table(rows, list(sets))
    out = Path(args.out)
    atomic_write_bytes(out / "ablations.json", json.dumps(rows, indent=2).encode())
    atomic_write_bytes(out / "ablations.md", table.encode())
    print(table)
    if not args.no_record:
        grounding = "intent maps from " + args.intent_cache if args.intent_cache else "no grounding (ε prior)"
        record("ablations", "Ablations (Table 3 layout)",
               f"`{args.config}` at {args.size} px, {args.steps} steps × batch {args.batch} per variant, same "
               f"seed and pairs; {grounding}; scored on " + ", ".join(f"{name} ({len(pairs)} pairs)" for name, pairs in sets.items())
               + f".\n\n{table}")


if __name__ == "__main__":
    main()
