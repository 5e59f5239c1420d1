"""The JPEG-saved splice regime of the generator, and the refinement's tight boundary on it."""

from dataclasses import replace

import cv2
import numpy as np

from imdl_sigma.config import RefineConfig
from imdl_sigma.inference.refine import pixel_difference, refine
from imdl_sigma.metrics import pixel_scores
from imdl_sigma.photometric.degrade import jpeg_roundtrip
from imdl_sigma.synth.generator import JpegSpliceConfig, SynthConfig, bundled_photos, bundled_textures, jpeg_qualities, make_pair

ON = RefineConfig(enabled=True)


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


def saved_splice(quality: int = 70):
    """A smooth photo-like source, a flat patch pasted in, the result saved as JPEG; the patch's mask."""
    rng = np.random.default_rng(0)
    source = cv2.GaussianBlur(rng.integers(0, 256, (128, 160, 3), dtype=np.uint8), (0, 0), 3.0)
    truth = np.zeros((128, 160), bool)
    truth[40:64, 50:80] = True
    edited = source.copy()
    edited[truth] = (230, 40, 40)
    return source, jpeg_roundtrip(edited, quality), truth


def test_on_a_jpeg_saved_splice_the_ringing_is_not_taken_for_the_edit():
    source, edited, truth = saved_splice()
    network = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 1.0)  # a network that found the patch
    difference = pixel_difference(source, edited)
    always_snap = refine(network, difference, 0.5, replace(ON, resaved_growth=0.0))
    kept = refine(network, difference, 0.5, ON)
    assert always_snap.snapped and (always_snap.prob > 0.5).sum() > 1.1 * truth.sum()  # the ringing grew it
    assert not kept.snapped and kept.prob is network and kept.noise_floor > ON.identical_floor
    assert pixel_scores(kept.prob > 0.5, truth)[0] > pixel_scores(always_snap.prob > 0.5, truth)[0]


def test_on_a_jpeg_saved_splice_the_snap_still_recovers_an_edit_the_network_mostly_missed():
    source, edited, truth = saved_splice()
    corner = np.zeros(truth.shape, np.float32)
    corner[40:50, 50:62] = 1.0  # a sixth of the patch
    refined = refine(corner, pixel_difference(source, edited), 0.5, ON)
    assert refined.snapped and pixel_scores(refined.prob > 0.5, truth)[0] > 0.8
