"""Stage I seconds per step with and without `--cache-features` (frozen backbone), written to RESULTS.md.

    python -m benchmarks.feature_cache_speed --config base_random --size 224 --pairs 32 --batch 4

Two runs of two epochs on the same generated pairs: without the cache, and with it (epoch 1
fills it, epoch 2 reads it). The figure is epoch 2's seconds per step; crops/flips are off in
both runs so they do the same work apart from the backbone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.config import SigmaConfig
from imdl_sigma.synth.generator import SynthConfig, synthesize
from imdl_sigma.training.loop import TrainConfig
from imdl_sigma.training.stage1 import train_stage1

from .results import record


def epoch_seconds_per_step(run: Path, steps_per_epoch: int) -> float:
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    second_epoch = [r for r in log if r["step"] > steps_per_epoch]
    return (second_epoch[-1]["elapsed_s"] - log[steps_per_epoch - 1]["elapsed_s"]) / len(second_epoch)


def seconds_per_step(config_name: str, size: int, pairs: int, batch: int, work: Path) -> dict:
    """{"no cache": s/step, "cache": s/step} of Stage I's second epoch on `pairs` generated pairs."""
    manifest = synthesize(work / "pairs", pairs, seed=0, config=SynthConfig(size=size), progress=False)
    steps = pairs // batch
    train = TrainConfig(epochs=2, batch_size=batch, num_workers=0, crop_scale=(1.0, 1.0), warmup_steps=1,
                        save_every_steps=10**9)
    results = {}
    for name, cache in (("no cache", None), ("cache", str(work / "features"))):
        config = SigmaConfig.preset(config_name).with_overrides({"backbone.image_size": size})
        train_stage1(str(manifest), str(work / name.replace(" ", "_")), config, train, cache_features=cache,
                     progress=False)
        results[name] = round(epoch_seconds_per_step(work / name.replace(" ", "_"), steps), 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="base_random")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = seconds_per_step(args.config, args.size, args.pairs, args.batch,
                               Path(tempfile.mkdtemp(prefix="cachebench")))
    speedup = round(results["no cache"] / results["cache"], 2)
    print(json.dumps({"s_per_step": results, "speedup": speedup}))
    if not args.no_record:
        record("feature_cache", "Stage I with cached backbone features (`--cache-features`)",
               f"{args.config} at {args.size} px, batch {args.batch}, {args.pairs} pairs, second epoch:\n\n"
               f"| run | s/step |\n|---|---|\n| backbone every step | {results['no cache']} |\n"
               f"| features from the cache | {results['cache']} |\n\n**Speed-up {speedup}×** (the head and "
               "the backward pass are unchanged; the saving is the frozen backbone's forward).")


if __name__ == "__main__":
    main()
