"""`benco annotate`: exactly-once output across a kill and --resume, IMDL-BenCo loads the result."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from imdl_sigma.annotation import annotate as annotate_module
from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate, quality_flags
from imdl_sigma.errors import BadInputError


@pytest.fixture(autouse=True)
def _dataset_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDL_SIGMA_DATASETS", str(tmp_path / "datasets.json"))


def killed_on_second_batch(monkeypatch):
    """Make the job die (as if killed) on its second batch; returns the real method to restore."""
    calls = {"n": 0}
    original = annotate_module.AnnotationJob.annotate_batch

    def dies_on_second_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is killed mid-run
        return original(self, batch)

    monkeypatch.setattr(annotate_module.AnnotationJob, "annotate_batch", dies_on_second_batch)
    return original


KEEP_ALL = AnnotateConfig(batch_size=4, filters=FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10))


def test_killed_run_resumes_to_exactly_one_output_per_pair(synth_pairs, tiny_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "ann"
    original = killed_on_second_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        annotate([str(synth_pairs)], str(out), checkpoint=str(tiny_checkpoint), config=KEEP_ALL, progress=False)
    monkeypatch.setattr(annotate_module.AnnotationJob, "annotate_batch", original)
    with pytest.raises(BadInputError, match="--resume"):
        annotate([str(synth_pairs)], str(out), checkpoint=str(tiny_checkpoint), config=KEEP_ALL, progress=False)
    stats = annotate([str(synth_pairs)], str(out), checkpoint=str(tiny_checkpoint), config=KEEP_ALL,
                     resume=True, name="sigma_test", progress=False)

    records = [json.loads(l) for l in (out / "records" / "rank0.jsonl").read_text().splitlines()]
    assert len(records) == len({r["key"] for r in records}) == 12  # the first batch was not redone
    dataset = json.loads((out / "dataset.json").read_text())
    assert len(dataset) == 12 and len({m for _, m in dataset}) == 12
    assert stats["pairs"] == stats["kept"] == 12 and stats["registered_as"] == "sigma_test"
    provenance = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert provenance["provenance_grounding"] == "none" and provenance["parse"]["source"] == "rules"

    from imdl_sigma.data.dataset_names import resolve_dataset

    assert resolve_dataset("sigma_test") == out.resolve()

    from IMDLBenCo.datasets import JsonDataset

    loaded = JsonDataset(str(out / "dataset.json"), is_resizing=True, output_size=(64, 64))
    assert len(loaded) == 12
    sample = loaded[0]
    assert sample["image"].shape == (3, 64, 64) and sample["mask"].shape == (1, 64, 64)
    from PIL import Image

    first_mask = np.asarray(Image.open(dataset[0][1]))
    assert first_mask.shape == np.asarray(Image.open(dataset[0][0])).shape[:2]
    assert set(np.unique(first_mask)) <= {0, 255}


def test_bad_pairs_are_logged_and_never_stop_the_run(synth_pairs, tiny_checkpoint, tmp_path):
    lines = synth_pairs.read_text().splitlines()[:3]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    record = json.loads(lines[1])
    record["edited"] = str(broken)
    record["source"] = str(synth_pairs.parent / record["source"])
    record["mask"] = str(synth_pairs.parent / record["mask"])
    lines[1] = json.dumps(record)
    fixed = [json.loads(l) for l in (lines[0], lines[2])]
    for r in fixed:
        for key in ("source", "edited", "mask"):
            r[key] = str(synth_pairs.parent / r[key])
    manifest = tmp_path / "mixed.jsonl"
    manifest.write_text("\n".join([json.dumps(fixed[0]), lines[1], json.dumps(fixed[1])]) + "\n")
    stats = annotate([str(manifest)], str(tmp_path / "out"), checkpoint=str(tiny_checkpoint), config=KEEP_ALL,
                     progress=False)
    assert stats["kept"] == 2 and stats["errors"] == 1
    error = json.loads((tmp_path / "out" / "errors.jsonl").read_text())
    assert "not a readable image" in error["error"]


def test_quality_flags():
    config = FilterConfig(min_area=0.01, max_area=0.9, max_aspect_change=1.2, min_quality=0.5)
    mask = np.zeros((10, 10), bool)
    assert quality_flags((10, 10), (10, 10), mask, 1.0, config) == ["empty"]
    assert quality_flags((10, 10), (10, 10), ~mask, 1.0, config) == ["near_full"]
    mask[:3, :3] = True
    assert quality_flags((10, 20), (10, 10), mask, 1.0, config) == ["size_mismatch"]
    assert quality_flags((10, 10), (10, 10), mask, 0.49, config) == ["low_quality"]
    assert quality_flags((10, 10), (10, 10), mask, 0.5, config) == []


def test_demo_writes_dataset_metrics_and_page(tiny_checkpoint, tmp_path):
    from imdl_sigma.demo import run_demo

    summary = run_demo(str(tmp_path / "demo"), n=4, checkpoint=str(tiny_checkpoint), progress=False)
    assert set(summary["metrics"]) >= {"sigma", "pixdiff-morph", "pixdiff-otsu"}
    page = (tmp_path / "demo" / "index.html").read_text()
    for pair_id in (f"synth{i:06d}" for i in range(4)):  # every pair, kept in the dataset or not
        assert f"<b>{pair_id}</b>" in page
    assert "Instructions were not used" in page and "probability is above <b>0.5</b>" in page
    for src in __import__("re").findall(r'(?:src|href)="([^"#]+)"', page):
        assert (tmp_path / "demo" / src).is_file()
    assert json.loads((tmp_path / "demo" / "dataset" / "dataset.json").read_text())


def test_bundled_checkpoint_predicts_at_the_edited_size(synth_pairs):
    from imdl_sigma import Annotator
    from imdl_sigma.data.manifest import read_manifest

    annotator = Annotator.from_checkpoint()
    assert annotator.config.name == "standin" and annotator.config.grounding == "none"
    pair = read_manifest(synth_pairs)[0]
    from PIL import Image

    mask = annotator.predict(Image.open(pair.source), np.asarray(Image.open(pair.edited)), pair.instruction)
    assert mask.dtype == np.uint8 and mask.shape == np.asarray(Image.open(pair.edited)).shape[:2]
    assert set(np.unique(mask)) <= {0, 255}


def test_mani_and_json_layouts_round_trip_through_imdlbenco(synth_pairs, tiny_checkpoint, tmp_path):
    from IMDLBenCo.datasets import JsonDataset, ManiDataset
    from PIL import Image

    config = AnnotateConfig(batch_size=4, mani=True, with_authentic=True,
                            filters=FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=10))
    out = tmp_path / "ann"
    annotate([str(synth_pairs)], str(out), checkpoint=str(tiny_checkpoint), config=config, progress=False)
    dataset = json.loads((out / "dataset.json").read_text())
    assert len(dataset) == 24 and sum(mask == "Negative" for _, mask in dataset) == 12
    mani = ManiDataset(str(out / "mani"), is_resizing=True, output_size=(32, 32))
    jsonset = JsonDataset(str(out / "dataset.json"), is_resizing=True, output_size=(32, 32))
    assert len(mani) == 12
    for i in range(12):
        mani_mask = mani[i]["mask"]
        name = mani[i]["name"]
        index = next(j for j, (_, m) in enumerate(dataset) if m != "Negative" and Path(m).name == name)
        assert torch.equal(mani_mask, jsonset[index]["mask"])
        stored = np.asarray(Image.open(dataset[index][1])) > 127
        assert mani_mask.sum() > 0 or not stored.any()
    negative = jsonset[len(dataset) - 1]
    assert negative["label"] == 0 and negative["mask"].sum() == 0


def test_annotate_streams_a_parquet_corpus_and_resumes(synth_pairs, tiny_checkpoint, tmp_path, monkeypatch):
    """AnyEdit-layout parquet shards annotated without exporting first; killed and resumed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imdl_sigma.data.manifest import read_manifest

    rows = [{"image_file": {"bytes": Path(p.source).read_bytes(), "path": None},
             "edited_file": {"bytes": Path(p.edited).read_bytes(), "path": None},
             "edit_instruction": p.instruction, "edit_type": "remove"} for p in read_manifest(synth_pairs)[:6]]
    shards = tmp_path / "anyedit" / "data"
    shards.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows[:4]), shards / "train-00000.parquet", row_group_size=2)
    pq.write_table(pa.Table.from_pylist(rows[4:]), shards / "train-00001.parquet", row_group_size=2)
    out = tmp_path / "ann"
    original = killed_on_second_batch(monkeypatch)
    config = AnnotateConfig(batch_size=4, filters=KEEP_ALL.filters)
    with pytest.raises(KeyboardInterrupt):
        annotate([], str(out), corpora={"anyedit": str(tmp_path / "anyedit")}, checkpoint=str(tiny_checkpoint),
                 config=config, progress=False)
    monkeypatch.setattr(annotate_module.AnnotationJob, "annotate_batch", original)
    stats = annotate([], str(out), corpora={"anyedit": str(tmp_path / "anyedit")}, checkpoint=str(tiny_checkpoint),
                     config=config, resume=True, progress=False)
    records = [json.loads(l) for l in (out / "records" / "rank0.jsonl").read_text().splitlines()]
    assert len(records) == len({r["key"] for r in records}) == 6
    assert stats["per_corpus"] == {"anyedit": 6} and stats["per_edit_type"] == {"remove": 6}
    edited = json.loads((out / "dataset.json").read_text())[0][0]
    assert Path(edited).is_relative_to(out / "inputs" / "anyedit")
