"""Every registered configuration and model name works (as timm's `list_models()` test does):
each SIGMA preset builds and runs a forward, each learned baseline's presets and models build and
run, every method name `benco bench masks` accepts resolves to a Predictor."""

import numpy as np
import pytest
import torch

from imdl_sigma.baselines import LEARNED_BASELINES
from imdl_sigma.baselines.pixdiff import DEFAULT_TAUS
from imdl_sigma.config import PRESETS, SigmaConfig
from imdl_sigma.errors import BadInputError
from imdl_sigma.methods import LEARNED_METHODS, PIXDIFF_METHODS, expand_methods, load_predictor
from imdl_sigma.model import SIGMA, SigmaNet


def small_input(config) -> int:
    """The smallest side the preset's backbone takes with a 2 × 2 lattice."""
    net_patch = config.backbone.arch.get("patch_size", 14)
    return 2 * net_patch


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_sigma_preset_builds_and_runs_a_forward(name):
    config = SigmaConfig.preset(name)
    assert config.name == name
    # No pretrained weights offline: the preset's architecture, randomly initialised.
    config.backbone.pretrained = False
    side = small_input(config)
    config.backbone.image_size = side
    torch.manual_seed(0)
    net = SigmaNet(config).eval()
    source, edited = torch.randn(1, 3, side, side), torch.randn(1, 3, side, side)
    with torch.no_grad():
        output = net(source, edited)
    assert output.logits.shape == (1, 1, side, side) and torch.isfinite(output.logits).all()


def test_sigma_model_contract_on_the_tiny_preset():
    model = SIGMA(config="tiny")
    image, source = torch.randn(2, 3, 56, 56), torch.randn(2, 3, 56, 56)
    out = model(image=image, source_image=source, mask=(torch.rand(2, 1, 56, 56) > 0.5).float())
    assert out["pred_mask"].shape == (2, 1, 56, 56) and out["backward_loss"].ndim == 0
    assert set(out["visual_loss"]) == {"seg_loss", "bce", "dice"}


def baseline_presets():
    for method, spec in LEARNED_BASELINES.items():
        from imdl_sigma.baselines.ddpm_cd import DDPM_CD_PRESETS
        from imdl_sigma.baselines.meta_cd import META_CD_PRESETS

        presets = DDPM_CD_PRESETS if spec.model_class.config_class.__name__ == "DDPMCDConfig" else META_CD_PRESETS
        for preset in sorted(presets):
            yield method, preset


@pytest.mark.parametrize("method,preset", list(baseline_presets()))
def test_every_learned_baseline_and_preset_builds(method, preset):
    spec = LEARNED_BASELINES[method]
    config = spec.model_class.config_class.resolve(preset)
    if hasattr(config, "freeze_unet"):  # no pretrained DDPM offline: DDPM-CD trains its UNet too
        config.freeze_unet = False
    model = spec.model_class(config=config)
    assert model.config.name == preset and sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("method", sorted(LEARNED_BASELINES))
def test_every_learned_baseline_trains_a_step_at_its_tiny_preset(method):
    spec = LEARNED_BASELINES[method]
    config = spec.model_class.config_class.resolve("meta_cd_tiny" if method == "meta-cd" else "ddpm_cd_tiny")
    if hasattr(config, "freeze_unet"):
        config.freeze_unet = False
    torch.manual_seed(0)
    model = spec.model_class(config=config)
    side = config.input_size
    image, source = torch.rand(1, 3, side, side), torch.rand(1, 3, side, side)
    mask = torch.zeros(1, 1, side, side)
    mask[..., side // 4: side // 2, side // 4: side // 2] = 1
    out = model(image=image, source_image=source, mask=mask)
    assert torch.isfinite(out["backward_loss"])
    out["backward_loss"].backward()


def test_every_learned_baseline_is_registered_in_imdlbenco():
    import registry  # noqa: F401  (registers imdl-sigma's models)
    from IMDLBenCo.registry import MODELS

    for name in ("SIGMA", *(spec.architecture for spec in LEARNED_BASELINES.values())):
        assert MODELS.has(name), name


def every_method_name() -> list[str]:
    return ["pixdiff"] + expand_methods(list(PIXDIFF_METHODS), DEFAULT_TAUS) + list(LEARNED_METHODS)


@pytest.mark.parametrize("method", every_method_name())
def test_every_method_name_resolves_to_a_predictor(method, baseline_checkpoints):
    checkpoint = baseline_checkpoints.get(method)  # SIGMA: the bundled checkpoint; PixDiff: none
    predictor = load_predictor(method, None if checkpoint is None else str(checkpoint))
    assert isinstance(predictor.name, str) and 0 < predictor.config.mask_threshold < 1
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    edited = source.copy()
    edited[10:20, 10:30] = 255
    maps = predictor.predict_proba_batch([source, source], [edited, edited[:30]])
    assert [m.shape for m in maps] == [(40, 52), (30, 52)]
    assert all(m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1 for m in maps)


def test_unknown_method_and_checkpoint_errors_are_bad_input(baseline_checkpoints):
    with pytest.raises(BadInputError, match="unknown method"):
        load_predictor("nonexistent")
    with pytest.raises(BadInputError, match="needs its trained checkpoint"):
        load_predictor("ddpm-cd")
    with pytest.raises(BadInputError, match="holds a MetaCD model"):
        load_predictor("ddpm-cd", str(baseline_checkpoints["meta-cd"]))
    with pytest.raises(BadInputError, match="training-free"):
        load_predictor("pixdiff", str(baseline_checkpoints["meta-cd"]))
