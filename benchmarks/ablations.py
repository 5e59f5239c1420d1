"""Table 3 ablations: SIGMA variants by config switch, trained and scored the same way.

    python -m benchmarks.ablations --train PAIRS --test PAIRS --out DIR --config standin --steps 300

Every variant is trained by `train_stage1` from the same seed on the same pairs for the same
number of steps, then scored with `bench masks`' scorer on the test pairs. Stage II rows need a
VAE and unlabeled pairs (--vae, --unlabeled); without them they are listed as not run.
Writes DIR/ablations.json and DIR/ablations.md, and the table into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from imdl_sigma.annotation.annotator import Annotator
from imdl_sigma.config import SigmaConfig
from imdl_sigma.data.images import atomic_write_bytes
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.training.loop import TrainConfig
from imdl_sigma.training.stage1 import train_stage1

from .masks import score_pairs
from .results import record

VARIANTS = {  # the paper's Table 3 switches (spec §6)
    "full (multi-scale, 2 DRBs, instruction branch)": {},
    "single-scale differencing": {"difference.multi_scale": False},
    "no DRB": {"difference.num_blocks": 0},
    "1 DRB": {"difference.num_blocks": 1},
    "no instruction branch": {"instruction.enabled": False},
}


def train_and_score(name: str, overrides: dict, args, train_config: TrainConfig, test_pairs: list) -> dict:
    run = Path(args.out) / name.split(" (")[0].replace(" ", "_")
    config = SigmaConfig.preset(args.config).with_overrides({"backbone.image_size": args.size, **overrides})
    last = run / "last.pt"
    if not last.is_file():  # a finished variant is not retrained on a rerun
        train_stage1(args.train, str(run), config, train_config, intent_cache=args.intent_cache)
    annotator = Annotator.from_checkpoint(str(last))
    scores = score_pairs(test_pairs, ["sigma"], {"sigma": annotator}, desc=name)["sigma"]
    return {"variant": name, "overrides": overrides, **scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", required=True, help="Stage I pairs manifest (with masks)")
    parser.add_argument("--test", required=True, help="test pairs manifest (with masks)")
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
    test_pairs = [p for p in read_manifest(args.test) if p.mask is not None]
    rows = [train_and_score(name, overrides, args, replace(train_config), test_pairs)
            for name, overrides in VARIANTS.items()]
    lines = ["| Variant | F1 | IoU |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['f1']:.2f} | {r['iou']:.2f} |" for r in rows]
    lines.append("| + Stage II | not run: needs a Stable Diffusion VAE (--vae) and unlabeled pairs | |")
    table = "\n".join(lines) + "\n"
    out = Path(args.out)
    atomic_write_bytes(out / "ablations.json", json.dumps(rows, indent=2).encode())
    atomic_write_bytes(out / "ablations.md", table.encode())
    print(table)
    if not args.no_record:
        grounding = "intent maps from " + args.intent_cache if args.intent_cache else "no grounding (ε prior)"
        record("ablations", "Ablations (Table 3 layout)",
               f"`{args.config}` at {args.size} px, {args.steps} steps × batch {args.batch} per variant, same "
               f"seed and pairs; {grounding}; scored on {len(test_pairs)} test pairs.\n\n{table}")


if __name__ == "__main__":
    main()
