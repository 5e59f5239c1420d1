"""Shapes, invariants and gradient flow of the SIGMA network (tiny config, random weights)."""

import pytest
import torch

from imdl_sigma.config import SigmaConfig
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.difference import LevelDifference, difference_signals


def tiny(**overrides):
    return SigmaConfig.preset("tiny").with_overrides(overrides)


@pytest.mark.parametrize("size", [56, 84])
def test_shapes_through_every_module(size):
    net = SigmaNet(tiny())
    cfg = net.config
    lattice = size // 14
    source, edited = torch.randn(2, 3, size, size), torch.randn(2, 3, size, size)
    src_feats, edit_feats = net.encode(source, edited)
    assert [f.shape for f in src_feats] == [(2, cfg.backbone.arch["hidden_size"], lattice, lattice)] * 3
    refined, visual = net.difference(src_feats, edit_feats)
    assert [d.shape for d in refined] == [(2, cfg.difference.dim, lattice, lattice)] * 3
    assert visual.shape == (2, cfg.difference.dim, lattice, lattice)
    instruction = net.intent(net.prior(None, 2, (lattice, lattice), visual))
    assert instruction.shape == visual.shape
    consensus = net.refinement(visual, instruction)
    assert consensus.shape == visual.shape
    pyramid = net.decoder.pyramid(refined)
    assert pyramid.shape == (2, cfg.decoder.fpn_dim, lattice, lattice)
    logits = net.decoder(refined, consensus, (size, size))
    assert logits.shape == (2, 1, size, size)
    assert net(source, edited).logits.shape == (2, 1, size, size)


def test_pyramid_sizes_match_paper_lattice():
    # 518 px → 37×37 lattice → pyramid 37, 19, 10 (paper Sec. 3.2.4)
    import math

    factors = SigmaConfig().decoder.pyramid_factors
    assert [math.ceil(37 / f) for f in factors] == [37, 19, 10]


def test_identical_images_give_zero_difference_signal():
    net = SigmaNet(tiny())
    image = torch.randn(1, 3, 56, 56)
    src_feats, edit_feats = net.encode(image, image.clone())
    for fs, fe in zip(src_feats, edit_feats):
        magnitude, direction = difference_signals(fs, fe)
        assert torch.count_nonzero(magnitude) == 0
        assert torch.count_nonzero(direction) == 0
    other = torch.randn(1, 3, 56, 56)
    magnitude, direction = difference_signals(*[f[0] for f in net.encode(image, other)])
    assert magnitude.abs().sum() > 0 and direction.min() >= 0


def test_direction_equals_one_minus_cosine():
    fs, fe = torch.randn(2, 8, 3, 3), torch.randn(2, 8, 3, 3)
    _, direction = difference_signals(fs, fe)
    expected = 1 - torch.nn.functional.cosine_similarity(fs, fe, dim=1)
    assert torch.allclose(direction[:, 0], expected, atol=1e-5)


def test_level_difference_input_width():
    level = LevelDifference(in_channels=8, dim=4)
    assert level.proj.in_channels == 3 * 8 + 1


def test_gradients_reach_every_trainable_parameter_and_not_the_frozen_backbone():
    net = SigmaNet(tiny())
    net.train()
    out = net(torch.randn(2, 3, 56, 56), torch.randn(2, 3, 56, 56), torch.rand(2, 1, 4, 4))
    out.logits.square().mean().backward()
    for name, param in net.named_parameters():
        if name.startswith("backbone."):
            assert not param.requires_grad and param.grad is None, name
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert not net.backbone.encoder.training  # frozen backbone stays in eval mode


def test_intent_map_changes_the_prediction_and_ablation_ignores_it():
    net = SigmaNet(tiny()).eval()
    source, edited = torch.randn(1, 3, 56, 56), torch.randn(1, 3, 56, 56)
    focus = torch.full((1, 1, 4, 4), 0.01)
    focus[..., 1:3, 1:3] = 1.0
    with torch.no_grad():
        assert not torch.allclose(net(source, edited).logits, net(source, edited, focus).logits)
    ablated = SigmaNet(tiny(**{"instruction.enabled": False})).eval()
    with torch.no_grad():
        assert torch.equal(ablated(source, edited).logits, ablated(source, edited, focus).logits)


@pytest.mark.parametrize("overrides, levels, blocks", [
    ({"difference.multi_scale": False}, 1, 2),
    ({"difference.num_blocks": 4}, 3, 4),
    ({"difference.num_blocks": 0}, 3, 0),
])
def test_ablation_switches(overrides, levels, blocks):
    net = SigmaNet(tiny(**overrides))
    assert len(net.difference.levels) == levels and len(net.difference.blocks) == blocks
    assert net(torch.randn(1, 3, 56, 56), torch.randn(1, 3, 56, 56)).logits.shape == (1, 1, 56, 56)


def test_input_must_be_multiple_of_patch():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        SigmaNet(tiny())(torch.randn(1, 3, 50, 50), torch.randn(1, 3, 50, 50))


def test_standin_backbone_is_trainable():
    net = SigmaNet(SigmaConfig.preset("standin").with_overrides({"backbone.image_size": 64}))
    out = net(torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64))
    out.logits.mean().backward()
    assert all(p.grad is not None for p in net.backbone.parameters())


def pixel_evidence_config(**overrides):
    return SigmaConfig.preset("tiny").with_overrides({"pixel_evidence.enabled": True, **overrides})


def test_pixel_evidence_is_zero_for_identical_images_and_sees_one_level():
    from imdl_sigma.model.pixel_evidence import PixelEvidence

    config = pixel_evidence_config().pixel_evidence
    evidence = PixelEvidence(config, mean=(0.5,) * 3, std=(0.25,) * 3)
    source = torch.randn(2, 3, 28, 28)
    assert torch.count_nonzero(evidence.statistics(source, source.clone())) == 0
    edited = source.clone()
    edited[:, :, 10, 12] += (1 / 255) / 0.25  # one pixel, one RGB level
    stats = evidence.statistics(source, edited)
    assert stats.shape == (2, evidence.num_statistics, 28, 28)
    log_peak = stats[:, 3]
    assert log_peak[:, 10, 12].min() > 0.1  # log scale: a 1-level change is not lost
    assert torch.count_nonzero(log_peak[:, :9]) == 0  # nothing far from the changed pixel


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_fusion_stride_and_pixel_evidence_keep_the_output_size(stride):
    for evidence in (False, True):
        config = pixel_evidence_config(**{"decoder.fusion_stride": stride, "pixel_evidence.enabled": evidence})
        net = SigmaNet(config).eval()
        source = torch.randn(1, 3, 56, 56)
        assert net(source, source + 0.1).logits.shape == (1, 1, 56, 56)


def test_base_preset_keeps_the_papers_decoder():
    net = SigmaNet(SigmaConfig.preset("tiny"))
    assert net.pixel_evidence is None and net.decoder.refinement is None
    assert SigmaConfig.preset("base").decoder.fusion_stride == 1 and not SigmaConfig.preset("base").pixel_evidence.enabled


def test_pixel_evidence_changes_the_prediction_where_pixels_differ():
    torch.manual_seed(0)
    net = SigmaNet(pixel_evidence_config(**{"decoder.fusion_stride": 2})).eval()
    torch.nn.init.normal_(net.decoder.refinement.head.weight)  # zero-initialised: a trained model's residual
    source = torch.randn(1, 3, 56, 56)
    edited = source.clone()
    edited[:, :, 30:34, 30:34] += 0.05
    with torch.no_grad():
        same = net(source, source.clone()).logits
        changed = net(source, edited).logits
    assert not torch.allclose(same, changed)


def test_enabling_pixel_evidence_starts_from_the_semantic_prediction():
    torch.manual_seed(0)
    plain = SigmaNet(pixel_evidence_config(**{"pixel_evidence.enabled": False})).eval()
    with_evidence = SigmaNet(pixel_evidence_config()).eval()
    missing, unexpected = with_evidence.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("pixel_evidence.", "decoder.refinement.")) for k in missing)
    source, edited = torch.randn(1, 3, 56, 56), torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.allclose(plain(source, edited).logits, with_evidence(source, edited).logits)
