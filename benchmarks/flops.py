"""FLOPs per pair of each part of SIGMA (and of grounding), counted with FlopCounterMode.

    python -m benchmarks.flops --config base --config standin [--set decoder.fuse_dim=32] [--grounding]

The network is built on the meta device (shapes only: no weights, no arithmetic), so the paper's
full-size network costs nothing to count; a preset with a pretrained backbone is counted with
the same architecture randomly initialised. Parts, per pair (source + edited image):

* backbone — both images through the encoder;
* difference — per-level projection (Eq. 4), the DRB stack (Eq. 5), aggregation into V_0;
* fusion — intent encoder and the bidirectional cross-modal refinement (Eq. 9–10);
* decoder — FPN on the patch lattice, then the fusion / terminal blocks and the 1×1 head at the
  input resolution divided by `decoder.fusion_stride` (1 in `base`: the part that grows with the pixels);
  the pixel-evidence branch and its refinement run at the input size (off in `base`).

`--set key=value` (repeatable) applies dotted config overrides to every config, and `--label`
names the row, so a new switch gets its own rows. `--grounding` also counts GroundingDINO-T
(transformers' default GroundingDinoConfig, 800 px) and SAM 2.1-S (1024 px, one box) per
grounded image, with random weights on the CPU (their forwards are data-dependent, so no meta
device). FlopCounterMode counts matrix products, convolutions and attention (2 FLOPs per
multiply-add); norms, activations and resizing are not counted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from imdl_sigma.bench.tables import markdown_table
from imdl_sigma.cli.flags import overrides as set_overrides
from imdl_sigma.config import DINOV2_BASE, SigmaConfig
from imdl_sigma.model import SigmaNet

from .results import record

PARTS = {  # part → SigmaNet submodules (FlopCounterMode names them "SigmaNet.<attribute path>")
    "backbone": ("backbone",),
    "difference": ("difference",),
    "fusion": ("intent", "refinement"),
    "decoder (FPN, lattice)": ("decoder.pyramid",),
    "fusion blocks + head (input / fusion_stride)": ("decoder.fusion", "decoder.terminal", "decoder.head"),
    "pixel evidence + refinement (input size)": ("pixel_evidence", "decoder.refinement"),
}


def countable(config: SigmaConfig) -> SigmaConfig:
    """`config` with a pretrained DINOv2 replaced by its architecture (random init, same FLOPs)."""
    if config.backbone.kind == "dinov2" and config.backbone.pretrained:
        config.backbone.pretrained = False
        config.backbone.arch = {**DINOV2_BASE, **config.backbone.arch, "image_size": config.backbone.image_size}
    return config


def module_flops(counts: dict, prefix: str) -> int:
    return sum(counts.get(f"SigmaNet.{prefix}", {}).values())


def network_flops(config: SigmaConfig) -> dict:
    """{part: GFLOPs per pair} and the total, at the config's input size."""
    config = countable(config)
    side = config.input_size
    with torch.device("meta"):
        net = SigmaNet(config).eval()
        source, edited = torch.empty(1, 3, side, side), torch.empty(1, 3, side, side)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(source, edited)
    counts = counter.get_flop_counts()
    parts = {part: sum(module_flops(counts, m) for m in modules) / 1e9 for part, modules in PARTS.items()}
    total = counter.get_total_flops() / 1e9
    parts["other"] = max(0.0, total - sum(parts.values()))  # no rounding noise below zero
    parts["total"] = total
    return {"input": side, "gflops": {k: round(v, 3) for k, v in parts.items()}}


def grounding_flops(detector_side: int = 800, sam_config: str = "configs/sam2.1/sam2.1_hiera_s.yaml") -> dict:
    """GFLOPs per grounded image: GroundingDINO-T at `detector_side` px, SAM 2.1 at 1024 px, one box."""
    import numpy as np
    from transformers import GroundingDinoConfig, GroundingDinoForObjectDetection

    from imdl_sigma.grounding.grounder import build_sam_predictor

    torch.manual_seed(0)
    detector = GroundingDinoForObjectDetection(GroundingDinoConfig()).eval()
    pixels = torch.randn(1, 3, detector_side, detector_side)
    tokens = torch.tensor([[101, 1037, 4937, 1012, 102]])  # "[CLS] a cat . [SEP]": a typical one-concept prompt
    with torch.no_grad(), FlopCounterMode(display=False) as detect:
        detector(pixel_values=pixels, input_ids=tokens, attention_mask=torch.ones_like(tokens))
    sam = build_sam_predictor(sam_config, None, "cpu")
    image = np.random.default_rng(0).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    with torch.no_grad(), FlopCounterMode(display=False) as segment:
        sam.set_image_batch([image])
        sam.predict_batch(box_batch=[np.array([[256, 256, 768, 768]], np.float32)], multimask_output=False)
    return {"GroundingDINO-T": round(detect.get_total_flops() / 1e9, 1),
            "SAM 2.1-S": round(segment.get_total_flops() / 1e9, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="preset or config JSON, e.g. a checkpoint's (repeatable; "
                                                          "default base, standin)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="dotted config override")
    parser.add_argument("--label", help="row label suffix for the overrides (default: the overrides)")
    parser.add_argument("--grounding", action="store_true", help="also count GroundingDINO-T + SAM 2.1-S (CPU)")
    parser.add_argument("--section", default="flops", help="RESULTS.md section (one per set of switches)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    overrides = set_overrides(args)
    suffix = f" ({args.label or ', '.join(args.set)})" if args.set else ""
    rows = {}
    for name in args.config or ["base", "standin"]:
        config = SigmaConfig.resolve(name)
        label = name if name == config.name else f"{config.name} ({Path(name).stem})"  # a JSON file: its stem
        rows[label + suffix] = network_flops(config.with_overrides(overrides))
    grounding = grounding_flops() if args.grounding else None
    print(json.dumps({"network": rows, "grounding_per_image": grounding}, indent=2))
    if args.no_record:
        return
    header = ["config", "input", *PARTS, "other", "total"]
    table = markdown_table(header, [[name, f"{row['input']} px", *(f"{v:,.2f}" for v in row["gflops"].values())]
                                    for name, row in rows.items()])
    body = ("GFLOPs per pair (source + edited), counted by `torch.utils.flop_counter.FlopCounterMode` on the "
            "meta device; matrix products, convolutions and attention only (norms, activations and resizing "
            "are not counted).\n\n" + table)
    for name, row in rows.items():
        flops = row["gflops"]
        body += (f"\n{name}: the backbone is {100 * flops['backbone'] / flops['total']:.1f} % of the network, "
                 f"the fusion blocks and head {100 * flops['fusion blocks + head (input / fusion_stride)'] / flops['total']:.1f} %.")
    if grounding:
        body += ("\n\nGrounding, GFLOPs per grounded image (a pair grounds one concept for add/remove, two for "
                 "replace/attribute change; random weights, CPU): "
                 + ", ".join(f"{k} {v:,.1f}" for k, v in grounding.items()) + ".")
    record(args.section, "FLOPs per pair by part (`benchmarks/flops.py`)", body)


if __name__ == "__main__":
    main()
