"""Photometric alignment (photometric/align.py): the identity on splices, the global change recovered
on post-processed pairs, and the edit left out of the fit."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from imdl_sigma.config import AlignConfig, SigmaConfig
from imdl_sigma.photometric.align import Alignment, align_source, coarse_to_fine, estimate
from imdl_sigma.photometric.jpeg_quality import listed_neighbours, saved_quality
from imdl_sigma.data.datasets import SigmaPairDataset
from imdl_sigma.photometric.degrade import jpeg_roundtrip, translate
from imdl_sigma.data.images import save_mask
from imdl_sigma.data.manifest import Pair
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.model import SigmaNet

ON = AlignConfig(enabled=True)


def photo(size: int = 200, seed: int = 0) -> np.ndarray:
    """A textured RGB image: smooth colour fields plus fine detail (blur and shifts show)."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0, 255, (8, 8, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 40, (size, size, 3)).astype(np.float32), (0, 0), 1.0)
    return np.clip(coarse + fine, 0, 255).astype(np.uint8)


def with_edit(image: np.ndarray, seed: int = 1, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """`image` with a square region replaced by other content; (edited, mask)."""
    side = int(image.shape[0] * share ** 0.5)
    edited, mask = image.copy(), np.zeros(image.shape[:2], bool)
    edited[20:20 + side, 30:30 + side] = photo(image.shape[0], seed)[:side, :side]
    mask[20:20 + side, 30:30 + side] = True
    return edited, mask


def outside_residual(source: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> float:
    """Mean |Δ| in levels away from the edit and the border."""
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    far[:10], far[-10:], far[:, :10], far[:, -10:] = False, False, False, False
    return float(np.abs(source.astype(float) - edited.astype(float)).mean(axis=2)[far].mean())


def test_disabled_returns_the_source_itself():
    source = photo()
    assert align_source(source, cv2.GaussianBlur(source, (0, 0), 2), AlignConfig()) is source


def test_identical_and_spliced_pairs_keep_the_exact_source():
    source = photo()
    assert estimate(source, source, ON).is_identity
    edited, _ = with_edit(source)
    assert estimate(source, edited, ON).is_identity
    assert np.array_equal(align_source(source, edited, ON), source)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_blur_of_the_edited_image_is_recovered(sigma):
    source = photo(240)
    edited, mask = with_edit(source)
    edited = cv2.GaussianBlur(edited, (0, 0), sigma)
    alignment = estimate(source, edited, ON)
    assert abs(alignment.sigma - sigma) <= 0.5
    aligned = alignment.apply(source)
    assert outside_residual(aligned, edited, mask) < 0.25 * outside_residual(source, edited, mask)
    assert outside_residual(aligned, edited, mask) < 1.5


def test_tone_drift_is_fitted():
    source = photo(seed=3)
    edited, mask = with_edit(source)
    x = edited.astype(np.float64) / 255
    edited = np.clip((x ** 1.1 * [1.05, 0.97, 1.0] + 0.03) * 255 + 0.5, 0, 255).astype(np.uint8)
    aligned = align_source(source, edited, ON)
    assert outside_residual(source, edited, mask) > 3
    assert outside_residual(aligned, edited, mask) < 1.0


@pytest.mark.parametrize("quality", [30, 75])
def test_a_re_compressed_edited_image_gets_its_own_blocks_back(quality):
    """Outside the edit, a JPEG of the source at the edited image's quality is that image."""
    source = photo(256, seed=9)
    spliced, mask = with_edit(source, share=0.1)
    edited = jpeg_roundtrip(spliced, quality)
    alignment = estimate(source, edited, ON)
    assert alignment.jpeg_quality == quality
    aligned = alignment.apply(source)
    assert outside_residual(aligned, edited, mask) < 0.1 * outside_residual(source, edited, mask)


def test_a_global_tone_edit_is_not_aligned_away():
    """"Make it darker" over the whole image is the edit itself, beyond any regeneration drift."""
    source = photo(seed=8)
    darker = (source.astype(np.float64) * 0.6).astype(np.uint8)
    alignment = estimate(source, darker, ON)
    assert alignment.tone is None and alignment.sigma == 0


def test_a_sub_pixel_shift_is_found():
    source = photo(256, seed=4)
    edited = translate(source, 1.25, -0.75)
    alignment = estimate(source, edited, ON)
    assert alignment.shift == pytest.approx((1.25, -0.75), abs=0.15)


def test_the_edit_does_not_bend_the_fit():
    """A large edit of very different tone does not pull the tone curve off the background."""
    source = photo(320, seed=5)
    edited, mask = with_edit(source, share=0.15)
    edited[mask] = 255 - edited[mask]
    edited = cv2.GaussianBlur(edited, (0, 0), 1.5)
    aligned = align_source(source, edited, ON)
    assert outside_residual(aligned, edited, mask) < 1.5


def test_tiny_images_are_aligned_whole():
    source = photo(24)
    edited = cv2.GaussianBlur(source, (0, 0), 1.0)
    assert isinstance(estimate(source, edited, ON), Alignment)
    assert align_source(source, edited, ON).shape == source.shape


def test_sizes_must_match():
    with pytest.raises(ValueError):
        estimate(photo(64), photo(80), ON)


def test_the_annotator_feeds_the_network_the_aligned_source():
    config = SigmaConfig.preset("tiny").with_overrides({"align.enabled": True})
    annotator = Annotator(SigmaNet(config), config, "tiny")
    source = photo(seed=6)
    blurred = cv2.GaussianBlur(source, (0, 0), 2.0)
    [aligned] = annotator.aligned([source], [blurred])
    assert np.abs(aligned.astype(int) - blurred).mean() < 0.3 * np.abs(source.astype(int) - blurred).mean()
    annotator.config.align.enabled = False
    assert annotator.aligned([source], [blurred])[0] is source


def test_training_pairs_are_aligned_as_at_inference(tmp_path):
    source = photo(96, seed=7)
    edited = cv2.GaussianBlur(source, (0, 0), 2.0)
    paths = {}
    for name, image in (("source", source), ("edited", edited)):
        paths[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(paths[name]), image[..., ::-1])
    save_mask(tmp_path / "mask.png", np.zeros((96, 96), bool))
    pair = Pair("p0", str(paths["source"]), str(paths["edited"]), "", str(tmp_path / "mask.png"))
    plain = SigmaPairDataset([pair], 96)[0]
    aligned = SigmaPairDataset([pair], 96, align=ON)[0]
    gap = lambda sample: (sample["source_image"] - sample["image"]).abs().mean().item()
    assert gap(aligned) < 0.3 * gap(plain)


@pytest.mark.parametrize("quality", [23, 30, 57, 75, 90])
def test_the_saved_jpeg_quality_is_read_from_the_dct_coefficients(quality):
    assert saved_quality(jpeg_roundtrip(photo(256, seed=10), quality), ON) == quality


def test_no_jpeg_quality_without_quantisation():
    """A PNG never compressed, or a JPEG blurred since, leaves no steps to read."""
    source = photo(256, seed=11)
    assert saved_quality(source, ON) is None
    assert saved_quality(cv2.GaussianBlur(jpeg_roundtrip(source, 50), (0, 0), 1.0), ON) is None


def test_the_listed_qualities_next_to_the_saved_one_are_tried():
    listed = (20, 30, 50, 75, 95)
    assert listed_neighbours(30, listed) == [30]
    assert listed_neighbours(57, listed) == [50, 75]
    assert listed_neighbours(99, listed) == [95]
    assert listed_neighbours(None, listed) == []


def test_a_clean_splice_stops_before_any_candidate_is_fitted(monkeypatch):
    """An outside that is the source's own leaves nothing a candidate could save: no search runs."""
    import imdl_sigma.photometric.align as align

    source = photo(256, seed=12)
    edited, _ = with_edit(source, share=0.2)
    monkeypatch.setattr(align, "fit_tone", lambda *_: pytest.fail("a candidate was fitted"))
    assert estimate(source, edited, ON).is_identity


def test_coarse_to_fine_fits_in_full_only_around_the_coarse_minimum():
    coarse = {((0.0, 0.0), i): score for i, score in enumerate([9, 7, 4, 2, 1, 3, 5, 8, 9])}
    coarse |= {((1.0, 0.5), i): 0.1 if i == 3 else 9 for i in range(9)}
    calls = []

    def score(candidate):
        calls.append(candidate)
        return coarse[candidate]

    # The shifted source's best σ (index 3) is not on the coarse grid of step 2: the search keeps to
    # the zero shift's minimum ...
    assert coarse_to_fine([(0.0, 0.0), (1.0, 0.5)], 9, 2, score) == [((0.0, 0.0), 3), ((0.0, 0.0), 4),
                                                                     ((0.0, 0.0), 5)]
    assert sorted(i for _, i in calls) == [0, 0, 2, 2, 4, 4, 6, 6, 8, 8]  # ... every second σ of each shift
    assert coarse_to_fine([(0.0, 0.0)], 9, 3, score) == [((0.0, 0.0), i) for i in (1, 2, 3, 4, 5)]


def test_the_coarse_to_fine_search_keeps_the_exhaustive_answer_on_blur_and_tone():
    """σ and tone as the search over every candidate finds them."""
    source = photo(256, seed=13)
    edited, _ = with_edit(source)
    x = cv2.GaussianBlur(edited, (0, 0), 1.5).astype(np.float64) / 255
    edited = np.clip((x ** 0.95 * [1.02, 0.98, 1.0]) * 255 + 0.5, 0, 255).astype(np.uint8)
    fast = estimate(source, edited, ON)
    exhaustive = estimate(source, edited, replace(ON, blur_coarse_step=1, coarse_sample_stride=1))
    assert (fast.sigma, fast.shift, fast.jpeg_quality) == (exhaustive.sigma, exhaustive.shift, exhaustive.jpeg_quality)
    assert np.allclose(fast.tone, exhaustive.tone)


def test_an_image_clipped_everywhere_has_no_jpeg_quality_and_still_aligns():
    """A global edit that saturates every block (a "sunny day" at 128 px) leaves no block to read a
    quality from: no quality, and the alignment runs (it raised on the empty block list)."""
    source = photo(128, seed=12)
    saturated = np.full_like(source, 255)
    saturated[::2, :, 0] = 0  # every 8 × 8 block touches 0 or 255 in some channel
    assert saved_quality(saturated, ON) is None
    assert align_source(source, saturated, ON).shape == source.shape
