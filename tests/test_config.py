import json

import pytest

from imdl_sigma.config import SigmaConfig


@pytest.mark.parametrize("name", ["base", "tiny", "standin"])
def test_json_round_trip(tmp_path, name):
    config = SigmaConfig.preset(name)
    config.to_json(tmp_path / "c.json")
    assert SigmaConfig.from_json(tmp_path / "c.json") == config
    assert SigmaConfig.resolve(str(tmp_path / "c.json")) == config


def test_base_preset_matches_spec():
    c = SigmaConfig.preset("base")
    assert (c.backbone.layers, c.backbone.image_size, c.backbone.freeze) == ((2, 5, 11), 518, True)
    assert (c.difference.dim, c.difference.num_blocks, c.fusion.iterations, c.fusion.num_heads) == (256, 2, 2, 8)
    assert (c.instruction.epsilon, c.decoder.fpn_dim, c.decoder.fuse_dim, c.mask_threshold) == (0.01, 128, 64, 0.5)


def test_overrides_and_unknown_fields(tmp_path):
    c = SigmaConfig.preset("tiny").with_overrides({"difference.num_blocks": 4})
    assert c.difference.num_blocks == 4
    with pytest.raises(KeyError):
        SigmaConfig.preset("tiny").with_overrides({"difference.nope": 1})
    with pytest.raises(KeyError):
        SigmaConfig.resolve("no-such-preset")
    (tmp_path / "bad.json").write_text(json.dumps({"bogus": 1}))
    with pytest.raises(KeyError):
        SigmaConfig.from_json(tmp_path / "bad.json")
