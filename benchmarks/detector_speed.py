"""Seconds per training step of a detector from random init (`downstream.finetune`, as `benco
finetune` and the mini Table 2 run it): wall-clock and this process's CPU time, which on a shared
machine is the cost a quiet one would pay per core.

    python -m benchmarks.detector_speed --data /tmp/t2/train/pairs.jsonl --detector pscc_net --size 128 --batch 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import registry  # noqa: F401  (the detectors are built by name from IMDL-BenCo's MODELS)


def seconds_per_step(data: str, detector: str, size: int, batch: int, steps: int, small: bool) -> dict:
    """One epoch of `steps` steps over the first steps × batch images of `data` (no scoring)."""
    import torch

    from downstream.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(epochs=1, batch_size=batch, image_size=size, num_workers=0, warmup_epochs=0)
    with tempfile.TemporaryDirectory(prefix="detector_speed_") as out:
        subset = limited_dataset(data, steps * batch, out)
        started = time.process_time()
        results = finetune(detector, subset, {}, out, config, random_init=True, tiny=small, progress=False)
        cpu = time.process_time() - started
    done, wall = results["history"][-1]["steps"], results["history"][-1]["elapsed_s"]
    return {"detector": detector, "small": small, "size": size, "batch": batch, "steps": done,
            "threads": torch.get_num_threads(), "wall_s_per_step": round(wall / done, 3),
            "cpu_s_per_step": round(cpu / done, 3)}


def limited_dataset(data: str, images: int, out: str) -> str:
    """The first `images` pairs of a manifest as a dataset.json under `out`."""
    from pathlib import Path

    from imdl_sigma.data.benco_datasets import write_json_dataset
    from imdl_sigma.data.manifest import read_manifest

    pairs = read_manifest(data)[:images]
    path = Path(out) / "speed.dataset.json"
    write_json_dataset(path, [(p.edited, p.mask) for p in pairs])
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="pairs manifest with masks (at least steps × batch pairs)")
    parser.add_argument("--detector", default="pscc_net")
    parser.add_argument("--small", action="store_true", help="the detector's shallow variant")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(seconds_per_step(args.data, args.detector, args.size, args.batch, args.steps, args.small)))


if __name__ == "__main__":
    main()
