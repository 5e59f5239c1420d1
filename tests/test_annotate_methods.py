"""`benco annotate --method`: every mask generator `bench masks` knows labels a dataset through the
same job (format, filters, resume), and its masks are that method's own prediction."""

import json

import numpy as np
import pytest

from imdl_sigma.annotation import annotate as annotate_module
from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
from imdl_sigma.baselines import pixdiff
from imdl_sigma.cli import main
from imdl_sigma.data.images import load_mask, load_rgb, match_size
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError
from imdl_sigma.methods import load_predictor

METHODS = ("sigma", "pixdiff-fixed@0.05", "pixdiff-morph", "pixdiff-otsu", "ddpm-cd", "meta-cd")


@pytest.fixture(autouse=True)
def _dataset_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))


def checkpoint_flags(method: str, tiny_checkpoint, baseline_checkpoints) -> list[str]:
    if method == "sigma":
        return ["--checkpoint", str(tiny_checkpoint)]
    if method in baseline_checkpoints:
        return [f"--{method}-checkpoint", str(baseline_checkpoints[method])]
    return []


def expected_masks(method: str, checkpoint, pairs: list) -> dict[str, np.ndarray]:
    """{pair id: the method's own mask}: its Predictor's map over its threshold, as `bench masks` scores it."""
    predictor = load_predictor(method, None if checkpoint is None else str(checkpoint), pixdiff_tau=0.1)
    masks = {}
    for pair in pairs:
        edited = load_rgb(pair.edited)
        source = match_size(load_rgb(pair.source), edited, pair.id)
        masks[pair.id] = predictor.predict_proba_batch([source], [edited])[0] > predictor.config.mask_threshold
    return masks


@pytest.mark.parametrize("method", METHODS)
def test_every_method_labels_the_pairs_with_its_own_masks(method, synth_pairs, tiny_checkpoint,
                                                          baseline_checkpoints, tmp_path):
    out = tmp_path / method
    code = main(["annotate", "--pairs", str(synth_pairs), "--out", str(out), "--method", method,
                 "--filter", "flag", "--batch-size", "5", "--pixdiff-tau", "0.1",
                 *checkpoint_flags(method, tiny_checkpoint, baseline_checkpoints)])
    assert code == 0
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    pairs = read_manifest(synth_pairs)
    assert len(records) == len(pairs) == 12 and {r["method"] for r in records} == {method}
    assert json.loads((out / "stats.json").read_text())["per_method"] == {method: 12}
    assert len(json.loads((out / "dataset.json").read_text())) == 12
    checkpoint = {"sigma": tiny_checkpoint, **baseline_checkpoints}.get(method)
    expected = expected_masks(method, checkpoint, pairs)
    for record in records:
        np.testing.assert_array_equal(load_mask(record["mask"]), expected[record["id"]], err_msg=record["id"])
    if method.startswith("pixdiff"):
        assert records[0]["provenance_checkpoint"] is None
        assert records[0]["provenance_tau"] == {"pixdiff-otsu": None, "pixdiff-morph": 0.1}.get(method, 0.05)


def test_pixdiff_morph_is_the_fixed_mask_opened_and_closed(synth_pairs):
    pair = read_manifest(synth_pairs)[1]
    source, edited = load_rgb(pair.source), load_rgb(pair.edited)
    (binary,) = load_predictor("pixdiff-morph", pixdiff_tau=0.05).predict_proba_batch([source], [edited])
    expected = pixdiff.morph(pixdiff.difference_map(source, edited) > 0.05)
    np.testing.assert_array_equal(binary > 0.5, expected)
    assert set(np.unique(binary)) <= {0.0, 1.0}


KEEP_ALL = FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10)


def test_a_killed_baseline_run_resumes_and_keeps_its_method(synth_pairs, tmp_path, monkeypatch):
    out = tmp_path / "morph"
    config = AnnotateConfig(batch_size=4, filters=KEEP_ALL, method="pixdiff-morph")
    calls = {"n": 0}
    original = annotate_module.AnnotationJob.annotate_batch

    def dies_on_second_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(annotate_module.AnnotationJob, "annotate_batch", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        annotate([str(synth_pairs)], str(out), config=config, progress=False)
    monkeypatch.setattr(annotate_module.AnnotationJob, "annotate_batch", original)
    with pytest.raises(BadInputError, match="masks of method pixdiff-morph, not sigma"):
        annotate([str(synth_pairs)], str(out), config=AnnotateConfig(filters=KEEP_ALL), resume=True, progress=False)
    stats = annotate([str(synth_pairs)], str(out), config=config, resume=True, progress=False)
    records = [json.loads(line) for line in (out / "records" / "rank0.jsonl").read_text().splitlines()]
    assert len(records) == len({r["key"] for r in records}) == 12  # the first batch was not redone
    assert stats["per_method"] == {"pixdiff-morph": 12}


def test_instruction_inputs_with_another_method_are_bad_input(synth_pairs, tmp_path):
    config = AnnotateConfig(method="pixdiff-otsu")
    with pytest.raises(BadInputError, match="reads no instruction"):
        annotate([str(synth_pairs)], str(tmp_path / "out"), config=config, intent_cache=str(tmp_path), progress=False)
    with pytest.raises(BadInputError, match="training-free"):
        annotate([str(synth_pairs)], str(tmp_path / "out"), config=config, checkpoint="sigma.pt", progress=False)
    with pytest.raises(BadInputError, match="unknown method 'pixdiff-best'"):
        annotate([str(synth_pairs)], str(tmp_path / "out"), config=AnnotateConfig(method="pixdiff-best"),
                 progress=False)
