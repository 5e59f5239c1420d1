"""Where each pair's intent map came from (`langsam`, `cache`, `none` + why), pair by pair: in
annotation records and stats.json, and as the share of grounded pairs in training checkpoints."""

import json
import logging

import numpy as np
import pytest
import torch

import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.config import SigmaConfig
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.grounding.intent import DEFAULT_MAP_SIZE, NO_GROUNDER, NOT_CACHED, IntentCache, resolve_intent_maps
from imdl_sigma.model.checkpoint import load_checkpoint
from imdl_sigma.training.loop import TrainConfig
from imdl_sigma.training.stage1 import train_stage1

EPS = 0.01
MAP = DEFAULT_MAP_SIZE  # what annotation hands the network


@pytest.fixture(autouse=True)
def _dataset_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))


def half_cached(synth_pairs, folder) -> dict[str, np.ndarray]:
    """An intent cache holding a distinct map for every other pair of the manifest: {id: map}."""
    cache, stored = IntentCache(folder), {}
    for i, pair in enumerate(read_manifest(str(synth_pairs))):
        if i % 2 == 0:
            stored[pair.id] = np.random.default_rng(i).uniform(0.2, 1.0, (MAP, MAP)).astype(np.float32)
            cache.save(pair, stored[pair.id])
    return stored


def test_annotate_with_half_the_pairs_cached(synth_pairs, tiny_checkpoint, tmp_path, monkeypatch, caplog):
    stored = half_cached(synth_pairs, tmp_path / "intent")
    seen = []  # (B, 1, m, m) intent maps the network was given, per batch
    original = Annotator.network_probs

    def recording(self, source, edited, intent_maps=None):
        seen.append(intent_maps)
        return original(self, source, edited, intent_maps)

    monkeypatch.setattr(Annotator, "network_probs", recording)
    config = AnnotateConfig(batch_size=4, filters=FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10))
    with caplog.at_level(logging.WARNING, logger="imdl_sigma.annotation.annotate"):
        stats = annotate([str(synth_pairs)], str(tmp_path / "out"), checkpoint=str(tiny_checkpoint), config=config,
                         intent_cache=str(tmp_path / "intent"), progress=False)

    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    grounding = {r["id"]: (r["provenance_grounding"], r["provenance_grounding_why"]) for r in records}
    assert {i: g for i, g in grounding.items() if i in stored} == {i: ("cache", None) for i in stored}
    assert {g for i, g in grounding.items() if i not in stored} == {("none", NOT_CACHED)}
    assert stats["intent_maps"] == {"cache": 6, "none": 6}
    assert stats["intent_maps_none_why"] == {NOT_CACHED: 6}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "6 of 12 pairs" in warnings[0]
    # Every batch mixes both kinds; cached rows are the cached maps, the others the ε prior.
    ids = [p.id for p in read_manifest(str(synth_pairs))]
    given = torch.cat(seen)[:, 0].numpy()
    for pair_id, intent in zip(ids, given):
        expected = stored.get(pair_id, np.full((MAP, MAP), EPS, np.float32))
        assert np.allclose(intent, expected, atol=1e-3)  # the cache stores float16


class FixedGrounder:
    """Grounds every concept as the whole image: a map of ones, to tell grounded pairs apart."""

    def ground(self, images, prompts):
        return [np.ones((1, *image.shape[:2]), bool) for image in images]


def test_resolve_grounds_only_the_misses():
    parses = [{"original": "cat", "edited": None, "action": "remove"}] * 3
    images = [np.zeros((16, 16, 3), np.uint8)] * 3
    cached = [np.full((MAP, MAP), 0.5, np.float32), None, np.full((4, 4), 0.25, np.float32)]
    maps, provenance = resolve_intent_maps(parses, images, images, cached, FixedGrounder(), EPS, MAP)
    assert [p["grounding"] for p in provenance] == ["cache", "langsam", "cache"]
    assert maps.shape == (3, MAP, MAP) and np.allclose(maps[1], 1.0) and np.allclose(maps[2], 0.25)
    maps, provenance = resolve_intent_maps(parses, images, images, None, None, EPS, MAP)
    assert maps is None and {p["why"] for p in provenance} == {NO_GROUNDER}


def test_checkpoint_records_the_grounded_share(synth_pairs, tmp_path):
    half_cached(synth_pairs, tmp_path / "intent")
    (tmp_path / "empty").mkdir()
    base = dict(batch_size=4, warmup_steps=1, num_workers=0, save_every_steps=100, max_steps=1)
    for cache, share, grounding in (("intent", 0.5, "langsam"), ("empty", 0.0, "none")):
        run = tmp_path / f"run_{cache}"
        train_stage1(str(synth_pairs), str(run), SigmaConfig.preset("tiny"), TrainConfig(**base),
                     intent_cache=str(tmp_path / cache), progress=False)
        saved = load_checkpoint(run / "last.pt")
        assert saved["intent_maps"]["grounded_share"] == share and saved["config"]["grounding"] == grounding
        assert json.loads((run / "run.json").read_text())["intent_maps"]["grounded"] == 12 * share
