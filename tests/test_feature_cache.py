"""The feature cache is keyed by what the backbone computes, not by where its weights live."""

import shutil

import torch

from imdl_sigma.config import TINY_DINOV2, SigmaConfig
from imdl_sigma.model import SigmaNet
from imdl_sigma.training.feature_cache import FeatureCache, backbone_fingerprint


def saved_dinov2(folder, seed):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    Dinov2Model(Dinov2Config(**TINY_DINOV2)).save_pretrained(folder)
    return folder


def net_from(folder, **overrides):
    config = SigmaConfig.preset("tiny").with_overrides({"backbone.pretrained": True,
                                                        "backbone.name_or_path": str(folder), **overrides})
    return SigmaNet(config).eval()


def test_moved_weights_share_a_key_other_weights_do_not(tmp_path):
    original = saved_dinov2(tmp_path / "dinov2", seed=0)
    moved = shutil.copytree(original, tmp_path / "elsewhere" / "renamed")
    other = saved_dinov2(tmp_path / "other", seed=1)

    key = backbone_fingerprint(net_from(original))
    assert backbone_fingerprint(net_from(moved)) == key
    assert backbone_fingerprint(net_from(other)) != key
    assert backbone_fingerprint(net_from(original, **{"backbone.mean": (0.5, 0.5, 0.5)})) != key
    assert backbone_fingerprint(net_from(original, **{"backbone.layers": (0, 2, 3)})) != key
    # One folder under the cache root per key: the moved weights read the features already stored.
    assert FeatureCache(tmp_path / "cache", net_from(moved)).folder == FeatureCache(tmp_path / "cache",
                                                                                    net_from(original)).folder
