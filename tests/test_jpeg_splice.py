"""The JPEG-saved splice regime of the generator, and the refinement's tight boundary on it."""

import numpy as np

from imdl_sigma.photometric.degrade import jpeg_roundtrip
from imdl_sigma.synth.generator import JpegSpliceConfig, SynthConfig, bundled_photos, bundled_textures, jpeg_qualities, make_pair


def splice_config(jpeg_share: float) -> SynthConfig:
    return SynthConfig(size=64, empty_share=0.0, splice_share=1.0, jpeg_splice_share=jpeg_share).with_overrides(
        {"postprocess.prob": 0.0})


def test_a_jpeg_saved_splice_is_the_splice_saved_as_jpeg_with_the_same_mask():
    photos, textures = bundled_photos(), bundled_textures()
    lossless_sources = 0
    for index in range(8):
        plain = make_pair(index, photos, textures, splice_config(0.0), seed=7)
        saved = make_pair(index, photos, textures, splice_config(1.0), seed=7)
        assert plain.regime == "splice" and saved.regime == "jpeg_splice"
        assert not np.array_equal(saved.edited[~saved.mask], saved.source[~saved.mask])  # the outside is re-saved
        if np.array_equal(saved.source, plain.source):  # a lossless source: the same splice, then JPEG
            lossless_sources += 1
            assert np.array_equal(saved.mask, plain.mask)
            assert any(np.array_equal(saved.edited, jpeg_roundtrip(plain.edited, q)) for q in range(60, 96))
        else:
            assert any(np.array_equal(saved.source, jpeg_roundtrip(plain.source, q)) for q in range(60, 101))
    assert 0 < lossless_sources < 8


def test_a_zero_share_leaves_every_pair_as_it_was():
    photos, textures = bundled_photos(), bundled_textures()
    mixed = SynthConfig(size=64, splice_share=0.5, jpeg_splice_share=0.5)
    for index in range(10):
        before = make_pair(index, photos, textures, SynthConfig(size=64, splice_share=0.5), seed=3)
        after = make_pair(index, photos, textures, mixed, seed=3)
        if after.regime != "jpeg_splice":
            assert np.array_equal(before.edited, after.edited) and np.array_equal(before.mask, after.mask)
            assert before.regime == after.regime


def test_source_and_edited_qualities_differ_or_the_source_is_lossless():
    config = JpegSpliceConfig()
    for seed in range(40):
        source, edited = jpeg_qualities(np.random.default_rng(seed), config)
        assert 60 <= edited <= 95
        assert source is None or abs(source - edited) >= config.min_quality_gap
