"""Forward time and peak memory of the SIGMA network per pair on CPU (random weights).

Measures the full network (backbone + head) and the SIGMA head alone (everything after the
backbone, fed with features of the backbone's output shape), for a config preset at its input
size. Each part runs in its own process so that its peak memory is its own: peak RSS during
the forward passes minus RSS before them.

    python -m benchmarks.model_speed --config base_random --pairs 2 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from imdl_sigma.config import SigmaConfig
from imdl_sigma.model import SigmaNet


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(config_name: str, part: str, batch: int, repeats: int) -> dict:
    config = SigmaConfig.preset(config_name)
    if config.backbone.pretrained:
        raise SystemExit(f"'{config_name}' loads pretrained weights; benchmark 'base_random' instead")
    torch.manual_seed(0)
    net = SigmaNet(config).eval()
    side = config.backbone.image_size
    source, edited = torch.randn(batch, 3, side, side), torch.randn(batch, 3, side, side)
    lattice = side // net.patch_size
    source_feats = [torch.randn(batch, c, lattice, lattice) for c in net.backbone.out_channels]
    edited_feats = [torch.randn(batch, c, lattice, lattice) for c in net.backbone.out_channels]
    params = sum(p.numel() for p in net.parameters())
    if part == "head":
        params -= sum(p.numel() for p in net.backbone.parameters())
        run = lambda: net.forward_features(source_feats, edited_feats, None, (side, side),  # noqa: E731
                                           net.evidence(source, edited))
    else:
        run = lambda: net(source, edited)  # noqa: E731
    before = current_rss_mib()
    with torch.no_grad():
        seconds = time_call(run, repeats)
    return {
        "config": config_name, "part": part, "input": side, "batch_pairs": batch,
        "threads": torch.get_num_threads(), "params_M": round(params / 1e6, 2),
        "s_per_pair": round(seconds / batch, 3), "peak_MiB_over_model": round(peak_rss_mib() - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="base_random")
    parser.add_argument("--pairs", type=int, default=2, help="pairs per forward")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--part", choices=("full", "head", "both"), default="both")
    args = parser.parse_args()
    if args.part != "both":
        print(json.dumps(measure(args.config, args.part, args.pairs, args.repeats)))
        return
    for part in ("full", "head"):
        command = [sys.executable, "-m", "benchmarks.model_speed", "--config", args.config, "--part", part,
                   "--pairs", str(args.pairs), "--repeats", str(args.repeats)]
        print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
