"""The end of an annotation run: every rank's records merged into the dataset's files —
dataset.json (IMDL-BenCo's JsonDataset), manifest.jsonl (one record per kept pair), stats.json
and errors.jsonl, and a ManiDataset copy under mani/ when asked."""

from __future__ import annotations

import json
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..data.benco_datasets import write_json_dataset, write_mani_dataset
from ..data.atomic import atomic_write_bytes
from ..data.jsonl import read_jsonl, write_jsonl
from .runstate import latest_errors, record_index, records_in_key_order

AREA_BINS = tuple(i / 10 for i in range(11))
QUALITY_BINS = AREA_BINS  # the quality score, like the area, is a share in [0, 1]
COUNTED = ("per_corpus", "per_edit_type", "per_action", "per_method", "flagged", "dropped",  # stats.json's order
           "intent_maps", "intent_maps_none_why")


def merge(out_dir: str | Path, with_authentic: bool, pairs_per_second: float | None = None,
          mani: bool = False) -> dict:
    """Write manifest.jsonl, dataset.json, stats.json and errors.jsonl from all ranks' records
    (and a ManiDataset copy under `mani/` when asked), streamed: the records are read one at a
    time in key order, and dataset.json is written from the manifest just written."""
    out = Path(out_dir)
    index, stats = record_index(out), DatasetStats()  # one pass over the record logs for the keys
    write_jsonl(out / "manifest.jsonl", ({k: v for k, v in record.items() if k != "key"}
                                         for record in stats.counted(records_in_key_order(out, index))
                                         if record["kept"]))

    def kept() -> Iterator[dict]:
        return read_jsonl(out / "manifest.jsonl")

    entries: Iterable = ((record["edited"], record["mask"]) for record in kept())
    if with_authentic:
        entries = chain(entries, ((record["source"], None) for record in kept()))
    write_json_dataset(out / "dataset.json", entries)
    if mani:
        write_mani_dataset(out / "mani", ((Path(r["mask"]).stem, r["edited"], r["mask"]) for r in kept()))
    errors = latest_errors(out, index)  # the finished keys
    write_jsonl(out / "errors.jsonl", errors)
    summary = stats.summary(len(errors), pairs_per_second)
    atomic_write_bytes(out / "stats.json", json.dumps(summary, indent=2).encode())
    return summary


class DatasetStats:
    """The figures of stats.json, accumulated one record at a time."""

    def __init__(self) -> None:
        self.pairs = 0
        self.areas: list[float] = []  # of the kept masks
        self.qualities: list[float] = []  # of the kept masks that have a score (older records have none)
        self.counts: dict[str, Counter] = {name: Counter() for name in COUNTED}

    def counted(self, records: Iterable[dict]) -> Iterator[dict]:
        """`records`, each added on its way through."""
        for record in records:
            self.add(record)
            yield record

    def add(self, record: dict) -> None:
        self.pairs += 1
        counts = self.counts
        counts["flagged"].update(record["flags"])
        counts["intent_maps"][record.get("provenance_grounding", "none")] += 1  # langsam / cache / none
        if record.get("provenance_grounding_why"):
            counts["intent_maps_none_why"][record["provenance_grounding_why"]] += 1
        if not record["kept"]:
            counts["dropped"].update(record["flags"])
            return
        self.areas.append(record["area"])
        if record.get("quality") is not None:
            self.qualities.append(record["quality"])
        counts["per_corpus"][record["corpus"]] += 1
        if record["edit_type"]:
            counts["per_edit_type"][record["edit_type"]] += 1  # the corpus's categories
        counts["per_action"][record.get("action", record["parse"]["action"])] += 1
        counts["per_method"][record.get("method", "sigma")] += 1  # the mask generator

    def summary(self, errors: int, pairs_per_second: float | None) -> dict:
        areas, _ = np.histogram(np.array(self.areas), bins=AREA_BINS)
        qualities, _ = np.histogram(np.array(self.qualities), bins=QUALITY_BINS)
        counts = {name: dict(counter) for name, counter in self.counts.items()}
        return {
            "pairs": self.pairs, "kept": len(self.areas), "errors": errors,
            **{name: counts[name] for name in COUNTED[:6]},
            "intent_maps": counts["intent_maps"], "intent_maps_none_why": counts["intent_maps_none_why"],
            "mask_area_histogram": {"bins": list(AREA_BINS), "counts": areas.tolist()},
            "quality_mean": float(np.mean(self.qualities)) if self.qualities else None,
            "quality_histogram": {"bins": list(QUALITY_BINS), "counts": qualities.tolist()},
            "pairs_per_second": pairs_per_second,  # of the last (possibly resumed) run
        }
