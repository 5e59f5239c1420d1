"""The post-processing and attack kinds of photometric/degrade.py on hand-made images."""

import numpy as np
import pytest

from imdl_sigma.photometric.degrade import ATTACK_KINDS, degrade
from imdl_sigma.errors import BadInputError

GREYS = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (4, 1, 3))  # (4, 256, 3): every level


def test_box_blur_averages_a_k_by_k_window():
    impulse = np.zeros((15, 15, 3), np.uint8)
    impulse[7, 7] = 225
    blurred = degrade(impulse, "box_blur", 5, np.random.default_rng(0))
    assert np.all(blurred[5:10, 5:10] == 9) and blurred.sum() == 25 * 9 * 3  # 225 / 25 on the 5 × 5 window
    flat = np.full((9, 9, 3), 77, np.uint8)
    assert np.array_equal(degrade(flat, "box_blur", 7, np.random.default_rng(0)), flat)


def test_brightness_maps_the_levels_onto_the_output_range():
    out = degrade(GREYS, "brightness", 0.8, np.random.default_rng(0))[0, :, 0].astype(int)
    assert out[0] == round(0.01 * 255) and out[255] == round(0.8 * 255)
    assert np.all(np.diff(out) >= 0)


def test_contrast_stretches_the_input_range_and_clips_outside():
    out = degrade(GREYS, "contrast", 0.8, np.random.default_rng(0))[0, :, 0].astype(int)
    assert np.all(out[:3] == 0) and np.all(out[round(0.8 * 255):] == 255)
    assert np.all(np.diff(out) >= 0) and len(np.unique(out)) > 150


def test_colour_levels_keeps_that_many_levels_within_half_a_bin():
    out = degrade(GREYS, "colour_levels", 32, np.random.default_rng(0))
    assert len(np.unique(out)) == 32
    assert np.abs(out.astype(int) - GREYS.astype(int)).max() <= 4  # bins of 8 levels, centres kept


@pytest.mark.parametrize("kind, level", [("box_blur", 4), ("box_blur", 2.5), ("brightness", 0.0),
                                         ("contrast", 1.5), ("colour_levels", 1), ("jpeg", 0), ("sharpen", 1)])
def test_a_level_outside_its_range_is_bad_input(kind, level):
    with pytest.raises(BadInputError):
        degrade(GREYS, kind, level, np.random.default_rng(0))


@pytest.mark.parametrize("kind, level", [("jpeg", 90), ("noise", 0.0), ("blur", 1.0), ("box_blur", 1),
                                         ("brightness", 1.0), ("contrast", 1.0), ("colour_levels", 256)])
def test_the_mildest_level_of_each_kind_keeps_the_image_close(kind, level):
    assert kind in ATTACK_KINDS
    out = degrade(GREYS, kind, level, np.random.default_rng(0))
    assert out.shape == GREYS.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - GREYS.astype(int)).mean() < 4
