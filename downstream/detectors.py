"""The six detectors of the paper's Table 2, built by name from IMDL-BenCo's MODELS (after `import
registry`, which adds the wrappers below and MTCL) with their public ("pretrained") weights from local files.

IMDL-BenCo is used as shipped; where a model cannot be built offline or on a CPU, a wrapper here
adapts it without editing IMDL-BenCo:
- MVSS-Net: `MVSSNet.__init__` always fetches ImageNet ResNet-50 weights through
  `model_zoo.load_url` (twice: the RGB and the noise stream). `MVSSNetLocal` (downstream/mvss.py,
  registered under that name) builds it with that call answered from a local file (`--weights
  resnet50=FILE`), or randomly.
- CAT-Net: `Cat_Net` calls `.cuda()` in `__init__` and `forward`; `CatNetLocal` (downstream/catnet.py,
  registered under that name) skips those calls on a machine without CUDA. Its config (IMDL-BenCo's
  CAT_full.yaml) is written with the HRNet and DCT-stream weight paths given here. Its input comes
  from `CatNetDataset` (downstream/catnet.py), not from IMDL-BenCo's dataset and
  `cat_net_post_func`, which hand it a constant image and the DCT of a re-saved one: RGB in
  CAT-Net's 0-255 range and the JPEG file's own DCT coefficients (jpegio).
- TruFor: `Trufor(phase=2)` loads Noiseprint++ and MiT-B2 weights in `__init__` (both required).
- MTCL: not in IMDL-BenCo and its public code has no licence: implemented from the paper in
  `downstream/mtcl/` and registered as `MTCL`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from imdl_sigma.errors import BadInputError, MissingWeightsError
from imdl_sigma.model.registered import registered_model


@dataclass(frozen=True)
class DetectorSpec:
    registry_name: str  # the detector's name in IMDL-BenCo's MODELS (MVSS-Net, CAT-Net: built as their wrappers)
    weights: dict  # weight role → what file it is (for the error message and --help)
    build: Callable[..., nn.Module]  # (spec, weight paths, input size, random_init, tiny)
    amp: bool = True  # IMDL-BenCo runs TruFor with --if_not_amp (NaN losses under AMP)
    edge_mask: bool = False  # needs IMDL-BenCo's edge_mask input (edge_width)
    # (IMDL-BenCo dataset, train, FinetuneConfig) → the dataset the detector reads instead, when it
    # needs an input IMDL-BenCo's datasets do not give; None: IMDL-BenCo's own
    input_dataset: Callable | None = None
    lr: float = 1e-4
    notes: str = ""
    extra: dict = field(default_factory=dict)


def statics(*parts: str) -> Path:
    import IMDLBenCo

    return Path(IMDLBenCo.__file__).parent / "statics" / "model_zoo" / Path(*parts)


def required(weights: dict, role: str, spec: DetectorSpec, allow_random: bool) -> str | None:
    path = weights.get(role)
    if path:
        if not Path(path).is_file():
            raise MissingWeightsError(f"{spec.registry_name}: weight file for '{role}' not found: {path}")
        return path
    if allow_random:
        return None
    raise MissingWeightsError(
        f"{spec.registry_name} needs its public weights: --weights {role}=FILE ({spec.weights[role]}); "
        "or --random-init to train from random weights")


# ---- builders ------------------------------------------------------------------------------

def build_iml_vit(spec, weights, size, random_init, tiny):
    mae = required(weights, "vit", spec, allow_random=random_init)
    # tiny: ViT-Ti width (192, twelve heads of 16) and a narrow pyramid and head; the same class
    extra = dict(embed_dim=192, fpn_channels=32, mlp_embeding_dim=32) if tiny else {}
    return registered_model(spec.registry_name)(input_size=size, vit_pretrain_path=mae, **extra)


def build_pscc_net(spec, weights, size, random_init, tiny):
    hrnet = required(weights, "hrnet", spec, allow_random=random_init)
    # "" rather than None: None raises a TypeError upstream
    return registered_model(spec.registry_name)(input_size=size, pretrain_path=hrnet or "")


def build_trufor(spec, weights, size, random_init, tiny):
    allow = random_init
    noiseprint = required(weights, "noiseprint", spec, allow)
    mit_b2 = required(weights, "mit_b2", spec, allow)
    scratch = None
    if noiseprint is None or mit_b2 is None:  # random init: phase 2 insists on files, so write random ones
        scratch = Path(tempfile.mkdtemp(prefix="trufor_random_"))
        noiseprint, mit_b2 = random_trufor_weights(scratch)
    try:
        return registered_model(spec.registry_name)(phase=2, np_pretrain_weights=noiseprint,
                                                    mit_b2_pretrain_weights=mit_b2,
                                                    config_path=str(statics("configs", "trufor.yaml")))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def random_trufor_weights(folder: Path) -> tuple[str, str]:
    from IMDLBenCo.model_zoo.trufor.cmx.builder_np_conf import myEncoderDecoder
    from IMDLBenCo.model_zoo.trufor.config import _C, update_config

    config = _C.clone()
    update_config(config, None, str(statics("configs", "trufor.yaml")))
    model = myEncoderDecoder(cfg=config)
    torch.save(model.dncnn.state_dict(), folder / "np++.pth")
    torch.save(model.backbone.state_dict(), folder / "mit_b2.pth")
    return str(folder / "np++.pth"), str(folder / "mit_b2.pth")


def build_mvss_net(spec, weights, size, random_init, tiny):
    resnet = required(weights, "resnet50", spec, allow_random=random_init)
    return registered_model("MVSSNetLocal")(resnet50_weights=resnet or "")


def build_cat_net(spec, weights, size, random_init, tiny):
    import yaml

    allow = random_init
    hrnet, dct = required(weights, "hrnet_w48", spec, allow), required(weights, "dct", spec, allow)
    config = yaml.safe_load(statics("configs", "CAT_full.yaml").read_text())
    config["MODEL"]["PRETRAINED_RGB"] = hrnet or ""
    config["MODEL"]["PRETRAINED_DCT"] = dct or ""
    if tiny:  # one module and one block per stage: the same network, shallow
        for stage in config["MODEL"]["EXTRA"].values():
            if isinstance(stage, dict) and "NUM_BLOCKS" in stage:
                stage["NUM_MODULES"] = 1
                stage["NUM_BLOCKS"] = [1] * len(stage["NUM_BLOCKS"])
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    try:
        return registered_model("CatNetLocal")(cfg_file=handle.name)
    finally:
        Path(handle.name).unlink(missing_ok=True)


def cat_net_input(dataset, train: bool, config):
    from .catnet import CatNetDataset

    return CatNetDataset.wrapping(dataset, config.image_size, train, config.jpeg_quality)


def build_mtcl(spec, weights, size, random_init, tiny):
    encoder = required(weights, "mit_b5", spec, allow_random=random_init)
    return registered_model(spec.registry_name)(encoder_weights=encoder or "", encoder_size="tiny" if tiny else "b5")


DETECTORS: dict[str, DetectorSpec] = {
    "cat_net": DetectorSpec("Cat_Net", {"hrnet_w48": "hrnetv2_w48_imagenet_pretrained.pth",
                                        "dct": "DCT_djpeg.pth.tar (CAT-Net's DCT stream)"},
                            build_cat_net, input_dataset=cat_net_input, lr=5e-5,
                            notes="DCT coefficients of the JPEG file via jpegio; other files compressed once "
                                  "at --jpeg-quality; no resizing (block-aligned windows)"),
    "mvss_net": DetectorSpec("MVSSNet", {"resnet50": "torchvision resnet50-19c8e357.pth (ImageNet)"},
                             build_mvss_net, edge_mask=True),
    "iml_vit": DetectorSpec("IML_ViT", {"vit": "mae_pretrain_vit_base.pth (MAE ViT-B/16)"}, build_iml_vit,
                            edge_mask=True, notes="input size must equal the model's input_size"),
    "pscc_net": DetectorSpec("PSCC_Net", {"hrnet": "HRNet-W18 ImageNet weights (PSCC-Net's hrnet_w18_small_v2.pth)"},
                             build_pscc_net),
    "trufor": DetectorSpec("Trufor", {"noiseprint": "np++.pth (Noiseprint++)", "mit_b2": "mit_b2.pth (SegFormer MiT-B2)"},
                           build_trufor, amp=False),
    "mtcl": DetectorSpec("MTCL", {"mit_b5": "mit_b5.pth (SegFormer MiT-B5, e.g. nvidia/mit-b5 saved as a state dict)"},
                         build_mtcl, edge_mask=False),
}


def detector_spec(name: str) -> DetectorSpec:
    spec = DETECTORS.get(name.lower().replace("-", "_"))
    if spec is None:
        raise BadInputError(f"unknown detector '{name}'; choose from {', '.join(DETECTORS)}")
    return spec


def build_detector(name: str, weights: dict | None = None, input_size: int = 512, random_init: bool = False,
                   tiny: bool = False) -> nn.Module:
    """IMDL-BenCo model `name` with its public weights (`weights`: role → file). `random_init`:
    no weights (a missing file is then no error). `tiny` (tests): shallow variants of the same
    classes, random weights."""
    spec = detector_spec(name)
    unknown = sorted(set(weights or {}) - set(spec.weights))
    if unknown:
        raise BadInputError(f"{name} takes --weights {', '.join(spec.weights)}; not {', '.join(unknown)}")
    return spec.build(spec, dict(weights or {}), input_size, random_init or tiny, tiny)
