"""SIGMA inside IMDL-BenCo: registry, forward contract, evaluators."""

import numpy as np
import pytest
import torch

import registry  # noqa: F401  (registers SIGMA and SigmaPairDataset)
from IMDLBenCo.evaluation import PixelF1, PixelIOU
from IMDLBenCo.registry import DATASETS, MODELS
from imdl_sigma.metrics import pixel_scores


def test_registry_builds_sigma_by_name():
    assert MODELS.has("SIGMA") and DATASETS.has("SigmaPairDataset")
    model = MODELS.get("SIGMA")(config="tiny")
    assert model.config.name == "tiny"


def test_forward_contract_and_pixel_f1_runs_on_output():
    model = MODELS.get("SIGMA")(config="tiny")
    image, source = torch.randn(2, 3, 56, 56), torch.randn(2, 3, 56, 56)
    mask = (torch.rand(2, 1, 56, 56) > 0.5).double()  # IMDL-BenCo's datasets give float64 masks
    out = model(image=image, mask=mask, label=torch.ones(2), source_image=source, if_predcit_label=False)
    assert set(out) >= {"backward_loss", "pred_mask", "pred_label", "visual_loss", "visual_image"}
    assert out["pred_mask"].shape == (2, 1, 56, 56)
    assert 0 <= out["pred_mask"].min() and out["pred_mask"].max() <= 1
    out["backward_loss"].backward()
    f1 = PixelF1().batch_update(out["pred_mask"].detach(), mask.float())
    iou = PixelIOU().batch_update(out["pred_mask"].detach(), mask.float())
    assert f1.shape == (2,) and iou.shape == (2,)


def test_missing_source_image_is_a_clear_error():
    model = MODELS.get("SIGMA")(config="tiny")
    with pytest.raises(ValueError, match="source image"):
        model(image=torch.randn(1, 3, 56, 56), mask=None, label=None)


def test_our_metrics_equal_imdlbenco_on_non_empty_masks():
    rng = np.random.default_rng(0)
    preds = rng.random((4, 1, 32, 32)).astype(np.float32)
    truth = (rng.random((4, 1, 32, 32)) > 0.6).astype(np.float32)
    theirs_f1 = PixelF1().batch_update(torch.from_numpy(preds), torch.from_numpy(truth)).numpy()
    theirs_iou = PixelIOU().batch_update(torch.from_numpy(preds), torch.from_numpy(truth)).numpy()
    ours = np.array([pixel_scores(p[0] > 0.5, t[0] > 0.5) for p, t in zip(preds, truth)])
    np.testing.assert_allclose(ours[:, 0], theirs_f1, atol=1e-5)
    np.testing.assert_allclose(ours[:, 1], theirs_iou, atol=1e-5)
