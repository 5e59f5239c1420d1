"""The end of a run: every rank's records merged, streamed, into the dataset's files."""

import json

from imdl_sigma.annotation.outputs import merge
from imdl_sigma.data.benco_datasets import write_json_dataset
from imdl_sigma.data.jsonl import read_jsonl


def record(key: str, kept: bool = True, area: float = 0.25, quality: float | None = 0.9, **extra) -> dict:
    return {"key": key, "id": key.split("/")[1], "corpus": "c", "edit_type": None, "parse": {"action": "replace"},
            "source": f"/s/{key}.png", "edited": f"/e/{key}.png", "mask": f"/m/{key}.png", "kept": kept,
            "flags": [] if kept else ["empty"], "area": area, "quality": quality, **extra}


def test_merge_keeps_each_pair_once_in_key_order_with_its_last_record(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    rank0 = [record("c/b"), record("c/d", kept=False, area=0.0), record("c/a", area=0.05)]
    rank1 = [record("c/c", quality=None), record("c/a", area=0.95)]  # c/a redone after a restart: the last counts
    (records / "rank0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rank0))
    (records / "rank1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rank1) + '{"key": "c/e", "ar')
    (tmp_path / "errors_rank0.jsonl").write_text(json.dumps({"key": "c/a", "error": "decode"}) + "\n"
                                                 + json.dumps({"key": "c/f", "error": "decode"}) + "\n")
    stats = merge(tmp_path, with_authentic=True)
    manifest = list(read_jsonl(tmp_path / "manifest.jsonl"))
    assert [r["id"] for r in manifest] == ["a", "b", "c"] and manifest[0]["area"] == 0.95
    assert all("key" not in r for r in manifest)
    dataset = json.loads((tmp_path / "dataset.json").read_text())
    assert dataset == [["/e/c/a.png", "/m/c/a.png"], ["/e/c/b.png", "/m/c/b.png"], ["/e/c/c.png", "/m/c/c.png"],
                       ["/s/c/a.png", "Negative"], ["/s/c/b.png", "Negative"], ["/s/c/c.png", "Negative"]]
    assert [e["key"] for e in read_jsonl(tmp_path / "errors.jsonl")] == ["c/f"]  # c/a finished later
    assert (stats["pairs"], stats["kept"], stats["errors"], stats["dropped"]) == (4, 3, 1, {"empty": 1})
    assert stats["mask_area_histogram"]["counts"] == [0, 0, 2, 0, 0, 0, 0, 0, 0, 1]
    assert stats["quality_mean"] == 0.9 and sum(stats["quality_histogram"]["counts"]) == 2
    assert json.loads((tmp_path / "stats.json").read_text()) == stats


def test_json_dataset_round_trips_streamed_entries(tmp_path):
    entries = [("/a é.png", "/m.png"), ("/b.png", None)]
    write_json_dataset(tmp_path / "d.json", (entry for entry in entries))
    assert json.loads((tmp_path / "d.json").read_text()) == [["/a é.png", "/m.png"], ["/b.png", "Negative"]]
    write_json_dataset(tmp_path / "empty.json", [])
    assert json.loads((tmp_path / "empty.json").read_text()) == []
