"""Configuration dataclasses: one per network component, every number of the paper's method (Sec. 3,
4.1) a field.

``SigmaConfig.preset(name)`` gives the four configurations the project uses:

* ``base``    – the paper's network (frozen DINOv2-Base, d=256, 2 DRBs, K=2).
* ``base_random`` – ``base`` with DINOv2-B's architecture randomly initialised (benchmarks).
* ``tiny``    – the same classes at toy width, randomly initialised; used by the tests.
* ``standin`` – the bundled checkpoint's configuration: a small CNN backbone trained from
  scratch, standing in for DINOv2-B because no pretrained weights can be had offline; it adds
  the full-resolution pixel evidence, fuses at stride 4, aligns the source photometrically to
  the edited image and refines splice boundaries at the edited size (the four switches off in
  ``base``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnknownConfigKeyError


class ConfigFile:
    """JSON round trip and dotted overrides shared by the config dataclasses; a field whose type
    is a dataclass is read back as one. Unknown keys raise UnknownConfigKeyError (a KeyError)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        return _from_dict(cls, data)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_json(cls, path: str | Path):
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_overrides(self, overrides: dict[str, Any]):
        """Dotted-key overrides, e.g. {"difference.num_blocks": 4}."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.get(key) if isinstance(node.get(key), dict) else {}
            if leaf not in node:
                raise UnknownConfigKeyError(f"unknown {type(self).__name__} field '{dotted}'")
            node[leaf] = value
        return type(self).from_dict(data)

    def external_weights(self) -> tuple[str, ...]:
        """State-dict prefixes that checkpoints leave out (reloaded from pretrained weights)."""
        return ()

    # State-dict prefix → the dotted boolean field that adds that module (e.g. an optional branch).
    switched_modules: dict[str, str] = {}

    def modules_added_since(self, other: "ConfigFile") -> tuple[str, ...]:
        """Prefixes of the modules a switch turns on in this config but not in `other` (a
        checkpoint's config): their weights cannot come from that checkpoint."""
        return tuple(prefix for prefix, switch in self.switched_modules.items()
                     if _field(self, switch) and not _field(other, switch))

    def use_backbone_weights(self, weights: str) -> None:
        """Build the backbone from pretrained `weights` (a local folder or a hub id in the cache)."""
        raise ValueError(f"{type(self).__name__} has no backbone weights to set")


@dataclass
class BackboneConfig:
    # "dinov2": transformers' Dinov2Model; "standin_cnn": imdl_sigma.model.backbone.StandinCNN.
    kind: str = "dinov2"
    # Hugging Face id or local directory of the pretrained weights (dinov2 only).
    name_or_path: str = "facebook/dinov2-base"
    # False: build the architecture from `arch` with random weights (tests, stand-in training).
    pretrained: bool = True
    # Architecture overrides (Dinov2Config fields, or StandinCNN arguments).
    arch: dict = field(default_factory=dict)
    # 0-indexed transformer blocks (or CNN stages) whose outputs form the three levels.
    layers: tuple = (2, 5, 11)
    # Square input side fed to the backbone; a multiple of the patch size.
    image_size: int = 518
    # Frozen backbones run in eval mode without gradients (the paper's setting).
    freeze: bool = True
    # Per-channel normalisation applied to [0,1] RGB before the backbone (ImageNet).
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)


@dataclass
class DifferenceConfig:
    dim: int = 256  # d: width of every projected difference map
    num_blocks: int = 2  # Difference Refinement Blocks; 0 disables refinement
    num_heads: int = 8
    ffn_ratio: float = 4.0
    # False: single-scale ablation, only the deepest level is differenced (paper Table 3).
    multi_scale: bool = True
    aggregate_kernel: int = 1  # kernel of the Conv that aggregates [D_1; D_2; D_3] into V_0


@dataclass
class InstructionConfig:
    enabled: bool = True  # False: ablation "no instruction branch"; I_0 comes from the ε prior
    epsilon: float = 0.01  # ε of A = ε + (1 − ε)·R(max_i M_i); the global prior's value


@dataclass
class FusionConfig:
    iterations: int = 2  # K of the bidirectional cross-modal refinement
    num_heads: int = 8
    ffn_ratio: float = 4.0


@dataclass
class DecoderConfig:
    fpn_dim: int = 128  # lateral / output width of the FPN
    fuse_dim: int = 64  # width of the residual fusion block and the terminal block
    # Down-sampling factors of the pyramid levels relative to the patch lattice
    # (37 → 37, 19, 10 for the paper's 518 px input); one per level, finest first.
    pyramid_factors: tuple = (1, 2, 4)
    # Input-size divisor at which the fusion and terminal blocks run (1: the paper, at the input
    # size). A larger stride cuts the head's cost by stride²; pair it with pixel evidence, which
    # restores full-resolution boundaries.
    fusion_stride: int = 1


@dataclass
class PixelEvidenceConfig:
    """Full-resolution pixel evidence for the decoder (not in the paper; off in `base`).

    |x_s − x_e| and its local statistics at the input size, encoded by two small convs and
    gated by the semantic decoder features before the mask head: pixel-identical regions
    (spliced and inpainted edits) become evidence the stride-8 lattice cannot resolve.
    """

    enabled: bool = False
    width: int = 8  # channels of the encoded evidence and of the refinement convs
    windows: tuple = (5, 15)  # px; local mean / max / changed-share windows
    log_gain: float = 255.0  # log1p(gain·|Δ|)/log1p(gain): a 1-level difference is visible
    changed_level: float = 0.5  # |Δ| in 0–255 levels above which a pixel counts as changed


@dataclass
class RefineConfig:
    """Boundary refinement at the edited image's own size (not in the paper; off in `base`):
    on splice pairs the predicted boundary snaps to the exact pixel difference within a band
    (imdl_sigma/inference/refine.py). Chosen on validation pairs from training photos."""

    enabled: bool = False
    band: float = 0.04  # share of the short side by which the boundary may grow outward
    noise_quantile: float = 0.95  # of |Δ| farther than two bands from the prediction: the noise floor
    max_noise: float = 0.04  # |Δ| (0–1) floor above which the pair is not a splice: no refinement
    margin: float = 0.0  # |Δ| above the floor that counts as changed
    identical_floor: float = 0.5 / 255  # floors up to this: the outside is pixel-identical
    # Above it (re-saved or noised after the edit), the snapped mask is kept only when it is more
    # than this many times the network's mask (the network missed most of the edit); inf: never.
    resaved_growth: float = 3.0
    min_support: float = 0.1  # share of changed pixels below which a predicted region is dropped
    close_px: int = 1  # radius of the closing that fills pinholes of the refined mask
    max_hole_share: float = 0.01  # enclosed holes up to this image share are filled
    min_missed_area: float = 0.001  # changed regions away from the prediction this large (image share) are added; 0: off
    min_far_share: float = 0.05  # image share that must lie far from the prediction to estimate the floor


@dataclass
class QualityConfig:
    """The per-mask quality score, an estimate of the mask's IoU with the true edit (not in the
    paper; imdl_sigma/inference/quality.py): sigmoid(bias + Σ weights · signals), the signals in
    quality.SIGNALS order. The coefficients were fitted for the bundled stand-in on validation
    pairs from training photos (benchmarks/quality_calibration.py)."""

    stability_offset: float = 1.0  # logit offset of the two thresholds the stability score compares
    growth_clip: tuple = (-3.0, 5.0)  # the range of the growth signal (log₂ of an area ratio)
    # Fitted on 390 validation pairs (val3s, val3r: 60 each; JPEG-saved splices: 150; post-processed: 120).
    weights: tuple = (5.5857, 1.6428, 0.5344, -5.3659)
    bias: float = -0.875


@dataclass
class AlignConfig:
    """Photometric alignment of the source to the edited image before either is compared (not in
    the paper; off in `base`): shift, blur, tone and JPEG re-compression fitted robustly
    (imdl_sigma/photometric/align.py).
    Chosen on validation pairs from training photos."""

    enabled: bool = False
    blur_sigmas: tuple = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # px at the edited size; 0 (no blur) always tried
    tone_degree: int = 2  # degree of the per-channel tone polynomial
    # re-compressions tried last (only those next to the quality read from the edited image); () off
    jpeg_qualities: tuple = (20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95)
    max_tone_change: float = 0.3  # a fitted curve moving a level (0–1) more than this is an edit: not applied
    trim: float = 0.7  # share of lowest-residual pixels that the fit and its score use
    fit_iterations: int = 3  # trimmed least-squares fits, the first on the pixels closest to identity
    max_shift_px: float = 2.0  # a phase-correlation shift larger than this is not applied
    min_shift_px: float = 0.1  # nor one smaller than this
    shift_window: int = 512  # side (px) of the central crop the shift is measured on
    crop: int = 160  # side (px) of the crops the parameters are estimated on
    grid: int = 3  # crops per side of the image (grid × grid), corner to corner
    sample_stride: int = 3  # every n-th pixel of a crop enters the fit
    min_gain: float = 0.5  # trimmed mean |Δ| (0–255 levels) a candidate must save over the identity
    blur_coarse_step: int = 2  # the σ candidates (0 first) are tried every n-th, then those between around the best
    coarse_sample_stride: int = 4  # the coarse σ pass fits every n-th of the sampled pixels
    jpeg_blocks: int = 64  # the most textured 8×8 luma blocks of the edited image its JPEG quality is read from
    jpeg_step_fit: float = 0.1  # mean |remainder| (share of a step) below which a quality's steps fit; 0.25: none
    jpeg_min_step: int = 3  # luma steps smaller than this say too little (rounding noise ≈ 0.4) and are left out
    jpeg_min_coefficients: int = 200  # fewer quantised coefficients than this (a flat image): no quality read


@dataclass
class SigmaConfig(ConfigFile):
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    difference: DifferenceConfig = field(default_factory=DifferenceConfig)
    instruction: InstructionConfig = field(default_factory=InstructionConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    pixel_evidence: PixelEvidenceConfig = field(default_factory=PixelEvidenceConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    mask_threshold: float = 0.5  # probability above which a pixel is edited
    # What produced the intent maps this model was trained with: "none" (uniform ε prior,
    # the offline default) or "langsam" (GroundingDINO + SAM 2.1).
    grounding: str = "none"
    name: str = "base"

    @property
    def input_size(self) -> int:
        """Side of the square images the network is fed (the backbone's)."""
        return self.backbone.image_size

    def external_weights(self) -> tuple[str, ...]:
        """A frozen pretrained backbone is reloaded from its weights, not stored in checkpoints."""
        return ("backbone.",) if self.backbone.freeze and self.backbone.pretrained else ()

    switched_modules = {"pixel_evidence.": "pixel_evidence.enabled", "decoder.refinement.": "pixel_evidence.enabled"}

    def use_backbone_weights(self, weights: str) -> None:
        self.backbone.name_or_path = weights
        self.backbone.pretrained = True

    # ---- presets --------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> "SigmaConfig":
        if name not in PRESETS:
            raise UnknownConfigKeyError(f"unknown SIGMA config '{name}'; known: {', '.join(sorted(PRESETS))}")
        return copy.deepcopy(PRESETS[name])

    @classmethod
    def resolve(cls, name_or_path: str) -> "SigmaConfig":
        """A preset name or the path of a JSON file written by `to_json`."""
        return resolve_config(cls, PRESETS, name_or_path, "SIGMA")



def resolve_config(cls, presets: dict, name_or_path: str, what: str):
    """A copy of a preset, or the config in a JSON file written by `to_json`."""
    if name_or_path in presets:
        return copy.deepcopy(presets[name_or_path])
    path = Path(name_or_path)
    if path.is_file():
        return cls.from_json(path)
    raise UnknownConfigKeyError(f"'{name_or_path}' is neither a {what} preset ({', '.join(sorted(presets))}) "
                                "nor a config JSON file")


def _field(config, dotted: str):
    for name in dotted.split("."):
        config = getattr(config, name)
    return config


def _from_dict(cls, data: dict):
    kwargs = {}
    types = typing.get_type_hints(cls)  # the field types, nested config dataclasses resolved
    for key, value in data.items():
        if key not in types:
            raise UnknownConfigKeyError(f"unknown field '{key}' for {cls.__name__}")
        if dataclasses.is_dataclass(types[key]) and isinstance(value, dict):
            value = _from_dict(types[key], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


TINY_DINOV2 = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
    patch_size=14, image_size=56,
)

# DINOv2-Base's architecture (ViT-B/14: 12 blocks, 768 wide, 12 heads), for random init.
DINOV2_BASE = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    patch_size=14, image_size=518, layerscale_value=1.0,
)

PRESETS: dict[str, SigmaConfig] = {
    "base": SigmaConfig(),
    "base_random": SigmaConfig(backbone=BackboneConfig(pretrained=False, arch=DINOV2_BASE), name="base_random"),
    "tiny": SigmaConfig(
        backbone=BackboneConfig(pretrained=False, arch=TINY_DINOV2, layers=(1, 2, 3), image_size=56),
        difference=DifferenceConfig(dim=16, num_heads=2),
        fusion=FusionConfig(num_heads=2),
        decoder=DecoderConfig(fpn_dim=8, fuse_dim=8),
        name="tiny",
    ),
    "standin": SigmaConfig(
        backbone=BackboneConfig(
            kind="standin_cnn", pretrained=False, freeze=False, layers=(0, 1, 2), image_size=192,
            arch=dict(widths=[24, 48, 64], patch_size=8),
        ),
        difference=DifferenceConfig(dim=48, num_heads=4),
        fusion=FusionConfig(num_heads=4),
        decoder=DecoderConfig(fpn_dim=32, fuse_dim=16, fusion_stride=4),
        pixel_evidence=PixelEvidenceConfig(enabled=True),
        refine=RefineConfig(enabled=True),
        align=AlignConfig(enabled=True),
        name="standin",
    ),
}
