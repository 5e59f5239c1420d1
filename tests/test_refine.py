"""Boundary refinement at the edited size: snaps on splices, leaves regenerated pairs alone."""

import json

import cv2
import numpy as np
import pytest
import torch

from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.inference.refine import pixel_difference, refine
from imdl_sigma.config import RefineConfig, SigmaConfig
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.metrics import pixel_scores
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.checkpoint import save_checkpoint

ON = RefineConfig(enabled=True)


def _scene(seed: int = 0, size: tuple[int, int] = (120, 160)):
    """A textured source, an edited copy with an ellipse re-painted, and the ellipse's mask."""
    rng = np.random.default_rng(seed)
    source = cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (0, 0), 1.0)
    truth = np.zeros(size, np.uint8)
    cv2.ellipse(truth, (80, 60), (30, 18), 20, 0, 360, 1, -1)
    edited = source.copy()
    edited[truth.astype(bool)] = rng.integers(0, 256, (int(truth.sum()), 3), dtype=np.uint8)
    return source, edited, truth.astype(bool)


def _coarse(truth: np.ndarray, shift: int = 3) -> np.ndarray:
    """What an upsampled low-resolution map looks like: blurred, grown and displaced."""
    grown = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8))
    moved = np.roll(grown, shift, axis=1).astype(np.float32)
    return cv2.GaussianBlur(moved, (0, 0), 2.0)


def test_a_splice_snaps_to_the_exact_difference():
    source, edited, truth = _scene()
    coarse = _coarse(truth)
    before = pixel_scores(coarse > 0.5, truth)[0]
    refined = refine(coarse, pixel_difference(source, edited), 0.5, ON).prob
    after = pixel_scores(refined > 0.5, truth)[0]
    assert before < 0.95 and after > 0.99
    assert set(np.unique(refined)) <= {0.0, 1.0}


def test_a_regenerated_pair_keeps_the_network_map():
    source, edited, truth = _scene()
    rng = np.random.default_rng(1)
    regenerated = np.clip(edited + rng.normal(0, 12, edited.shape), 0, 255).astype(np.uint8)
    coarse = _coarse(truth)
    out = refine(coarse, pixel_difference(source, regenerated), 0.5, ON).prob
    assert out is coarse


def test_a_region_without_any_changed_pixel_is_dropped_and_disabled_changes_nothing():
    source, edited, truth = _scene()
    phantom = np.zeros(truth.shape, np.float32)
    phantom[5:25, 5:30] = 0.9  # a predicted region where source and edited are identical
    prob = np.maximum(_coarse(truth), phantom)
    refined = refine(prob, pixel_difference(source, edited), 0.5, ON).prob > 0.5
    assert not refined[5:25, 5:30].any() and pixel_scores(refined, truth)[0] > 0.99
    assert refine(prob, pixel_difference(source, edited), 0.5, RefineConfig()).prob is prob
    identical = refine(prob, pixel_difference(source, source), 0.5, ON).prob
    assert not identical.any()


def test_a_missed_edit_is_added_on_a_splice_and_a_speckle_is_not():
    source, edited, truth = _scene()
    second = np.zeros(truth.shape, bool)
    second[90:110, 10:40] = True  # an edit the network missed: 600 px, 3 % of the image
    edited[second] = 255 - edited[second]
    edited[5, 150] = 255 - edited[5, 150]  # one changed pixel: noise, not an edit
    refined = refine(_coarse(truth), pixel_difference(source, edited), 0.5, ON).prob > 0.5
    assert pixel_scores(refined, truth | second)[0] > 0.99 and not refined[5, 150]
    without = refine(_coarse(truth), pixel_difference(source, edited), 0.5,
                                 RefineConfig(enabled=True, min_missed_area=0.0)).prob > 0.5
    assert not without[second].any()


def test_refine_config_round_trips_and_old_configs_read_without_it():
    config = SigmaConfig.preset("tiny").with_overrides({"refine.enabled": True, "refine.band": 0.05})
    assert SigmaConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    legacy = config.to_dict()
    del legacy["refine"]
    assert SigmaConfig.from_dict(legacy).refine == RefineConfig()


def test_annotate_and_the_python_api_refine_and_align_alike(synth_pairs, tmp_path):
    torch.manual_seed(0)
    config = SigmaConfig.preset("tiny").with_overrides({"refine.enabled": True, "align.enabled": True})
    checkpoint = tmp_path / "tiny_refine.pt"
    save_checkpoint(checkpoint, SigmaNet(config), config, stage=0)
    out = tmp_path / "out"
    annotate([str(synth_pairs)], str(out), checkpoint=str(checkpoint), progress=False,
             config=AnnotateConfig(batch_size=4, filters=FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10)))
    records = {r["id"]: r for r in map(json.loads, (out / "records" / "rank0.jsonl").read_text().splitlines())}
    annotator = Annotator.from_checkpoint(checkpoint)
    for pair in read_manifest(str(synth_pairs)):
        expected = annotator.predict(pair.source, pair.edited, pair.instruction)
        written = cv2.imread(records[pair.id]["mask"], cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(written, expected), pair.id


@pytest.mark.parametrize("shape", [(64, 64), (40, 90)])
def test_pixel_difference_is_zero_on_identical_images(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert pixel_difference(image, image).shape == shape and not pixel_difference(image, image).any()
