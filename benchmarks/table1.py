"""Table 1 with every method in one command: trains the learned baselines on the Stage I pairs
(DDPM-CD: its DDPM pretraining on the pairs' images, then the change head on the frozen UNet;
Meta-CD), then scores PixDiff-Fixed (τ grid), PixDiff-Fixed-morph, PixDiff-Otsu, DDPM-CD, Meta-CD
and SIGMA on the test pairs with `benco bench masks`, and records the table in RESULTS.md.

    python -m benchmarks.table1 --train TRAIN/pairs.jsonl --test [NAME=]TEST/pairs.jsonl [--test ...] --out DIR \
        [--checkpoint SIGMA.pt] [--ddpm-config ddpm_cd_small] [--meta-config meta_cd_small]

A rerun reuses finished baseline runs (DIR/<name>/last.pt at its last step) and resumes
unfinished ones from their last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import registry  # noqa: F401  (the baselines in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.baselines import LEARNED_BASELINES
from imdl_sigma.bench.masks import run_bench_masks
from imdl_sigma.model.checkpoint import load_checkpoint
from imdl_sigma.training.loop import TrainConfig
from imdl_sigma.training.stage1 import pair_model_config, train_pair_model

from .results import record


def trained(name: str, preset: str, args, weights: str | None = None) -> Path:
    """DIR/<name>/last.pt after at least `args.steps` steps (resumed if a run stopped early; a longer
    finished run is kept)."""
    run = Path(args.out) / name
    last = run / "last.pt"
    done = load_checkpoint(last)["step"] if last.is_file() else 0
    if done < args.steps:
        architecture = LEARNED_BASELINES[name].architecture
        config = pair_model_config(architecture, preset, {}, weights)
        train_config = TrainConfig(max_steps=args.steps, batch_size=args.batch, lr=args.lr, warmup_steps=20,
                                   num_workers=1, save_every_steps=50)
        train_pair_model(architecture, args.train, str(run), config, train_config, resume=str(last) if done else None)
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, help="Stage I pairs manifest (with masks), SIGMA's training pairs")
    parser.add_argument("--test", action="append", required=True,
                        help="test pairs manifest with masks, or NAME=MANIFEST (repeatable: one column each)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    parser.add_argument("--ddpm-config", default="ddpm_cd_small")
    parser.add_argument("--meta-config", default="meta_cd_small")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of each baseline run")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    unet = trained("ddpm-unet", args.ddpm_config, args)
    checkpoints = {"sigma": args.checkpoint, "ddpm-cd": str(trained("ddpm-cd", args.ddpm_config, args, str(unet))),
                   "meta-cd": str(trained("meta-cd", args.meta_config, args))}
    methods = ["pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu", "ddpm-cd", "meta-cd", "sigma"]
    run_bench_masks(args.test, methods, str(Path(args.out) / "bench"), checkpoints=checkpoints)
    table = (Path(args.out) / "bench" / "masks.md").read_text()
    print(table)
    if not args.no_record:
        steps = {name: load_checkpoint(Path(args.out) / name / "last.pt")["step"] for name in ("ddpm-unet", "ddpm-cd", "meta-cd")}
        record("table1", "Table 1 with the learned baselines",
               f"DDPM-CD (`{args.ddpm_config}`: DDPM pretraining {steps['ddpm-unet']} steps, then the change head "
               f"on the frozen UNet {steps['ddpm-cd']} steps) and Meta-CD (`{args.meta_config}`, {steps['meta-cd']} "
               f"steps), batch {args.batch}, trained from scratch here on the Stage I pairs (no pretrained DDPM, "
               f"FastSAM or ResNet weights can be had offline); SIGMA: {args.checkpoint or 'the bundled stand-in'}."
               f"\n\n{table}")


if __name__ == "__main__":
    main()
