"""Boundary refinement at the edited image's own resolution (not in the paper; `RefineConfig`).

The network sees both images at its square input size, so its mask's boundary comes from that
lattice, upsampled. When the pair is a splice — outside the edit the two images agree up to a
small noise floor (inpainting pasted back, CASIA-style composites) — the exact pixel difference
marks the boundary far better than any upsampled map. Per pair:

1. `d` = max over channels of |source − edited| at the edited size, in [0, 1];
2. the noise floor = a high quantile of `d` far from the predicted edit; above `max_noise`
   the pair is regenerated or post-processed, and the network's map is returned unchanged;
3. otherwise the mask becomes the pixels whose `d` exceeds the floor plus a margin within a
   band around the prediction (pinholes closed, small enclosed holes filled);
4. predicted regions with (almost) no pixel above that threshold are dropped: in a splice an
   edit always changes pixels; changed regions the network missed are added when they cover at
   least `min_missed_area` of the image (0: a missed edit stays missed);
5. where the floor is above `identical_floor` the edited image was re-saved (JPEG) or noised
   after the edit: the compression ringing that spreads from the edit into its 8×8 blocks
   passes for changed pixels, and the snapped masks grew past the true region (below the
   network's own map on JPEG-saved splices). There the network's map is kept, unless the
   snapped mask is more than `resaved_growth` times larger: the network missed most of the edit.

The network decides whether the pair is a splice at all (its prediction sets where the noise
floor is measured) and which regions to keep; on regenerated or post-processed pairs its map is
the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import RefineConfig


def pixel_difference(source: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 pair (source at the edited size) → (H, W) uint8 max-channel |Δ|."""
    return cv2.absdiff(source, edited).max(axis=2)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def distance_to(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool → float32 Euclidean distance (px) of every pixel to the nearest mask pixel
    (linear in the pixels, whatever the band: a dilation by a disk of that radius is not)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def noise_floor(difference: np.ndarray, distance: np.ndarray, config: RefineConfig) -> float | None:
    """The pair's background |Δ| (0–1): the `noise_quantile` of `difference` farther than two
    bands from the predicted edit; None when too little of the image is that far."""
    far = distance > 2 * band_radius(distance.shape, config)
    if far.mean() < config.min_far_share:
        return None
    return float(np.quantile(difference[far], config.noise_quantile)) / 255.0


def band_radius(shape: tuple[int, int], config: RefineConfig) -> int:
    """Pixels the boundary may move: `band` of the short side, at least one."""
    return max(1, round(config.band * min(shape)))


def snap_to_difference(distance: np.ndarray, changed: np.ndarray, config: RefineConfig) -> np.ndarray:
    """Distances to the predicted mask and bool changed pixels, (H, W) → the refined bool mask:
    the changed pixels within a band around the prediction, pinholes closed, small enclosed holes
    filled, regions the pixels do not support dropped."""
    reach = distance <= band_radius(distance.shape, config)
    refined = reach & changed
    if config.close_px:
        refined = cv2.morphologyEx(refined.astype(np.uint8), cv2.MORPH_CLOSE, _disk(config.close_px)).astype(bool)
    refined = fill_small_holes(refined, config.max_hole_share)
    refined = drop_unsupported(refined, changed, config.min_support)
    if config.min_missed_area:
        refined |= missed_regions(changed & ~reach, config.min_missed_area)
    return refined


def missed_regions(changed: np.ndarray, min_share: float) -> np.ndarray:
    """Changed regions away from the prediction that cover at least `min_share` of the image
    (speckle opened away first): on a splice, changed pixels are the edit even where the network missed it."""
    opened = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, _disk(1))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    large = stats[:, cv2.CC_STAT_AREA] >= min_share * changed.size
    large[0] = False
    return large[labels]


def fill_small_holes(mask: np.ndarray, max_share: float) -> np.ndarray:
    """Fill the regions enclosed by `mask` (not reaching the border) smaller than `max_share` of the image."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    height, width = mask.shape
    left, top, box_w, box_h, area = (stats[:, i] for i in range(5))
    enclosed = (left > 0) & (top > 0) & (left + box_w < width) & (top + box_h < height)
    small = enclosed & (area <= max_share * mask.size)
    small[0] = False  # label 0 is the mask itself
    return mask | small[labels]


def drop_unsupported(mask: np.ndarray, changed: np.ndarray, min_support: float) -> np.ndarray:
    """Remove the connected regions of `mask` where under `min_support` of the pixels changed."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    support = np.bincount(labels.ravel(), weights=changed.ravel().astype(np.float64), minlength=count)
    area = np.bincount(labels.ravel(), minlength=count)
    keep = support >= min_support * area
    keep[0] = False
    return keep[labels]


@dataclass
class Refinement:
    """What the refinement did to one pair's map (the quality score reads it)."""

    prob: np.ndarray  # (H, W) float32: the refined 0/1 mask where snapped, the network's map otherwise
    noise_floor: float | None  # the pair's background |Δ| (0–1); None: not measured
    changed: np.ndarray | None  # (H, W) bool pixels counted as changed; None: not snapped

    @property
    def snapped(self) -> bool:
        return self.changed is not None


def refine(prob: np.ndarray, difference: np.ndarray | None, threshold: float, config: RefineConfig) -> Refinement:
    """(H, W) float32 edit probability and uint8 |Δ| at the same size (None: no difference, the map
    is kept) → the refinement: snapped to the changed pixels where the pair is a splice."""
    if not config.enabled or difference is None:
        return Refinement(prob, None, None)
    if difference.shape != prob.shape:
        raise ValueError(f"difference {difference.shape} and probability {prob.shape} differ in size")
    predicted = prob > threshold
    distance = distance_to(predicted)
    floor = noise_floor(difference, distance, config)
    if floor is None or floor > config.max_noise:
        return Refinement(prob, floor, None)
    changed = difference > 255.0 * (floor + config.margin)
    snapped = snap_to_difference(distance, changed, config)
    resaved = floor > config.identical_floor
    if resaved and np.count_nonzero(snapped) <= config.resaved_growth * np.count_nonzero(predicted):
        return Refinement(prob, floor, None)
    return Refinement(snapped.astype(np.float32), floor, changed)
