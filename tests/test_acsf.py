"""ACSF rule by rule on hand-made maps, and the concept-map formula."""

import numpy as np
import pytest

from imdl_sigma.grounding.acsf import acsf, concept_map

EPS = 0.01
SIZE = (4, 4)


@pytest.fixture
def maps():
    original = np.full(SIZE, EPS, np.float32)
    original[:2, :2] = 1.0  # the original concept, top-left, in the source
    edited = np.full(SIZE, EPS, np.float32)
    edited[1:3, 1:3] = 1.0  # the edited concept, centre, in the edited image
    return original, edited


def test_add_uses_the_edited_concept(maps):
    assert np.array_equal(acsf("add", *maps, SIZE, EPS), maps[1])


def test_remove_uses_the_original_concept(maps):
    assert np.array_equal(acsf("remove", *maps, SIZE, EPS), maps[0])


@pytest.mark.parametrize("action", ["replace", "attribute change"])
def test_replace_and_attribute_change_take_the_product(maps, action):
    fused = acsf(action, *maps, SIZE, EPS)
    assert fused[1, 1] == 1.0  # both concepts present
    assert fused[0, 0] == pytest.approx(EPS) and fused[2, 2] == pytest.approx(EPS)  # only one
    assert fused[3, 3] == pytest.approx(EPS * EPS)  # neither
    assert np.allclose(fused, maps[0] * maps[1])


def test_global_is_uniform_epsilon(maps):
    assert np.array_equal(acsf("global", *maps, SIZE, EPS), np.full(SIZE, EPS, np.float32))


def test_missing_concept_counts_as_epsilon(maps):
    assert np.array_equal(acsf("add", maps[0], None, SIZE, EPS), np.full(SIZE, EPS, np.float32))
    with pytest.raises(ValueError):
        acsf("explode", *maps, SIZE, EPS)


def test_concept_map_merges_instances_and_smooths():
    instances = np.zeros((2, 8, 8), np.float32)
    instances[0, :4, :4] = 1
    instances[1, 4:, 4:] = 1
    a = concept_map(instances, (2, 2), EPS)
    assert np.allclose(a, [[1, EPS], [EPS, 1]])
    assert np.array_equal(concept_map(None, (3, 3), EPS), np.full((3, 3), EPS, np.float32))
    assert concept_map(np.zeros((0, 8, 8)), (2, 2), EPS).max() == pytest.approx(EPS)
