import numpy as np
import pytest

from imdl_sigma.metrics import ScoreAccumulator, pixel_scores


def test_hand_made_masks():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True  # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[:2, :3] = True  # 6 pixels: TP 4, FP 2, FN 0
    f1, iou = pixel_scores(pred, truth)
    assert f1 == pytest.approx(8 / 10) and iou == pytest.approx(4 / 6)
    assert pixel_scores(truth, truth) == (1.0, 1.0)
    assert pixel_scores(~truth, truth) == (0.0, 0.0)


def test_empty_ground_truth_rules():
    empty = np.zeros((3, 3), bool)
    assert pixel_scores(empty, empty) == (1.0, 1.0)
    one = empty.copy()
    one[0, 0] = True
    assert pixel_scores(one, empty) == (0.0, 0.0)


def test_accumulator_averages_per_image_and_counts_empty():
    acc = ScoreAccumulator()
    empty = np.zeros((2, 2), bool)
    full = np.ones((2, 2), bool)
    acc.add(full, full)
    acc.add(full, empty)
    summary = acc.summary()
    assert summary == {"f1": 50.0, "iou": 50.0, "n": 2, "empty_gt": 1}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        pixel_scores(np.zeros((2, 2)), np.zeros((3, 3)))
