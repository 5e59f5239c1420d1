"""The per-mask quality score: in [0, 1], highest where the mask is surely right, in the API,
the records, the stats and the --min-quality filter."""

import json

import cv2
import numpy as np
import pytest

from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
from imdl_sigma.config import QualityConfig, SigmaConfig
from imdl_sigma.inference.quality import SIGNALS, quality_score, quality_signals, stability
from imdl_sigma.inference.refine import pixel_difference, refine
from test_refine import _scene as scene  # a splice: a textured source, an ellipse re-painted, its mask

STANDIN = SigmaConfig.preset("standin")  # the bundled checkpoint's config: its fitted QualityConfig


def score(prob: np.ndarray, difference: np.ndarray | None) -> tuple[dict, float]:
    refinement = refine(prob, difference, 0.5, STANDIN.refine)
    signals = quality_signals(prob, refinement, 0.5, STANDIN.quality)
    return signals, quality_score(signals, STANDIN.quality)


def test_the_config_has_one_weight_per_signal():
    assert len(QualityConfig().weights) == len(STANDIN.quality.weights) == len(SIGNALS)


def test_signals_and_score_stay_in_range_on_random_maps():
    rng = np.random.default_rng(0)
    for trial in range(12):
        prob = cv2.GaussianBlur(rng.random((64, 80), dtype=np.float32), (0, 0), 1 + trial % 4)
        difference = rng.integers(0, 3 + 40 * (trial % 3), (64, 80), dtype=np.uint8)
        signals, quality = score(prob, difference if trial % 2 else None)
        assert 0.0 <= quality <= 1.0 and set(signals) == set(SIGNALS)
        assert all(0.0 <= value <= 1.0 for value in signals.values())


def test_stability_is_one_on_a_hard_map_and_lower_on_a_soft_one():
    hard = np.zeros((50, 50), np.float32)
    hard[10:30, 10:30] = 1.0
    soft = cv2.GaussianBlur(hard, (0, 0), 4.0)
    assert stability(hard, 0.5, 1.0) == 1.0 and stability(soft, 0.5, 1.0) < 0.8


def test_growth_is_the_clipped_log_area_ratio_on_a_unit_scale():
    from imdl_sigma.inference.quality import growth

    network = np.zeros((40, 40), np.float32)
    network[10:20, 10:20] = 1.0  # 100 px
    grown = np.zeros_like(network)
    grown[5:25, 5:25] = 1.0  # 400 px: log2 ratio 2
    assert growth(network, network, 0.5, (-3.0, 5.0)) == pytest.approx(3 / 8)  # unchanged
    assert growth(network, grown, 0.5, (-3.0, 5.0)) == pytest.approx(5 / 8)
    assert growth(grown, network, 0.5, (-3.0, 5.0)) == pytest.approx(1 / 8)
    assert growth(np.zeros_like(network), grown, 0.5, (-3.0, 5.0)) == 1.0  # from nothing: clipped at the top
    assert growth(network, np.zeros_like(network), 0.5, (-3.0, 5.0)) == pytest.approx(3 / 8)  # empty: as unchanged


def test_a_config_without_a_weight_per_signal_is_refused():
    with pytest.raises(ValueError):
        quality_score({name: 0.5 for name in SIGNALS}, QualityConfig(weights=(1.0, 1.0, 1.0)))


def test_identical_images_give_an_empty_mask_the_top_quality():
    source, edited, truth = scene()
    nothing = np.full(truth.shape, 0.02, np.float32)
    signals, identical = score(nothing, pixel_difference(source, source))
    assert signals["empty"] == 1.0 and signals["snapped"] == 1.0
    _, splice = score(truth.astype(np.float32), pixel_difference(source, edited))
    missed = score(nothing, pixel_difference(source, edited))[1]  # an edit in the pixels, no mask
    assert identical >= 0.9 and identical >= splice > missed


def test_a_snapped_splice_scores_above_a_soft_map_on_a_regenerated_pair():
    source, edited, truth = scene()
    soft = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 6.0)
    regenerated = np.clip(edited + np.random.default_rng(1).normal(0, 12, edited.shape), 0, 255).astype(np.uint8)
    snapped_signals, splice = score(cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 1.5), pixel_difference(source, edited))
    soft_signals, regenerated_quality = score(soft, pixel_difference(source, regenerated))
    assert snapped_signals["snapped"] == 1.0 and soft_signals["snapped"] == 0.0
    assert splice > regenerated_quality


def test_the_annotator_returns_the_score_with_the_mask():
    from imdl_sigma.inference.annotator import Annotator

    source, edited, truth = scene()
    annotator = Annotator.from_checkpoint()
    mask, quality = annotator.predict(source, edited, with_quality=True)
    assert mask.shape == truth.shape and mask.dtype == np.uint8 and 0.0 <= quality <= 1.0
    assert np.array_equal(mask, annotator.predict(source, edited))
    empty, top = annotator.predict(source, source, with_quality=True)
    assert not empty.any() and top >= 0.9


def test_records_stats_and_the_min_quality_filter(synth_pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))
    keep_all = FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10)
    out = tmp_path / "all"
    stats = annotate([str(synth_pairs)], str(out), config=AnnotateConfig(batch_size=4, filters=keep_all),
                     progress=False)  # the bundled annotator, whose masks differ in quality
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    qualities = sorted(r["quality"] for r in records)
    assert len(qualities) == 12 and all(0.0 <= q <= 1.0 for q in qualities)
    assert stats["quality_mean"] == pytest.approx(np.mean(qualities))
    assert sum(stats["quality_histogram"]["counts"]) == 12
    distinct = sorted(set(qualities))
    cut = distinct[len(distinct) // 2]
    low = sum(q < cut for q in qualities)
    assert 0 < low < 12
    for action, kept in (("flag", 12), ("drop", 12 - low)):
        filters = FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10, min_quality=cut, action=action)
        filtered = annotate([str(synth_pairs)], str(tmp_path / action),
                            config=AnnotateConfig(batch_size=4, filters=filters), progress=False)
        assert filtered["flagged"]["low_quality"] == low and filtered["kept"] == kept


def test_the_demo_page_shows_each_score_and_the_scatter():
    from imdl_sigma.data.manifest import Pair
    from imdl_sigma.demo import PairView, ScoredMask, quality_note, quality_scatter

    def view(pair_id: str, quality: float | None, f1: float) -> PairView:
        record = None if quality is None else {"quality": quality, "kept": True, "flags": []}
        mask = ScoredMask("sigma", "SIGMA", f"figures/{pair_id}.png", f1, f1)
        return PairView(Pair(pair_id, "s.png", "e.png", "", "m.png"), "s.png", "e.png", False, record, {"sigma": mask})

    views = [view("a", 0.95, 98.0), view("b", 0.6, 40.0), view("c", 0.9, 90.0), view("d", None, 0.0)]
    assert "quality score 95.0" in quality_note(views[0]) and quality_note(views[3]) == ""
    scatter = quality_scatter(views)
    assert scatter.startswith("<svg") and scatter.count("<circle") == 3 and "3 pairs; Spearman rank correlation 1.00" in scatter
    assert quality_scatter(views[3:]) == ""
