"""Seconds per Stage I training step on this machine (random weights, synthetic tensors).

    python -m benchmarks.train_speed --config base_random --size 518 --batch 2
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from imdl_sigma.config import SigmaConfig
from imdl_sigma.model import SIGMA


def seconds_per_step(config_name: str, size: int, batch: int, steps: int) -> dict:
    config = SigmaConfig.preset(config_name).with_overrides({"backbone.image_size": size})
    if config.backbone.pretrained:
        raise SystemExit(f"'{config_name}' loads pretrained weights; benchmark 'base_random' instead")
    torch.manual_seed(0)
    model = SIGMA(config=config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    image, source = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)
    mask = (torch.rand(batch, 1, size, size) > 0.8).float()

    def step():
        loss = model(image=image, mask=mask, source_image=source)["backward_loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = (time.perf_counter() - started) / steps
    return {"config": config_name, "size": size, "batch_pairs": batch, "threads": torch.get_num_threads(),
            "s_per_step": round(elapsed, 2), "s_per_pair": round(elapsed / batch, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="base_random")
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(seconds_per_step(args.config, args.size, args.batch, args.steps)))


if __name__ == "__main__":
    main()
