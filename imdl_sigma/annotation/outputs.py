"""The end of an annotation run: every rank's records merged into the dataset's files —
dataset.json (IMDL-BenCo's JsonDataset), manifest.jsonl (one record per kept pair), stats.json
and errors.jsonl, and a ManiDataset copy under mani/ when asked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from ..data.benco_datasets import write_json_dataset, write_mani_dataset
from ..data.images import atomic_write_bytes
from ..data.jsonl import write_jsonl
from .runstate import latest_errors, read_records

AREA_BINS = tuple(i / 10 for i in range(11))
QUALITY_BINS = AREA_BINS  # the quality score, like the area, is a share in [0, 1]


def merge(out_dir: str | Path, with_authentic: bool, pairs_per_second: float | None = None,
          mani: bool = False) -> dict:
    """Write dataset.json, manifest.jsonl, stats.json and errors.jsonl from all ranks' records
    (and a ManiDataset copy under `mani/` when asked)."""
    out = Path(out_dir)
    records = sorted(read_records(out).values(), key=lambda r: r["key"])
    kept = [r for r in records if r["kept"]]
    entries = [(r["edited"], r["mask"]) for r in kept]
    if with_authentic:
        entries += [(r["source"], None) for r in kept]
    write_json_dataset(out / "dataset.json", entries)
    if mani:
        write_mani_dataset(out / "mani", [(Path(r["mask"]).stem, r["edited"], r["mask"]) for r in kept])
    write_jsonl(out / "manifest.jsonl", [{k: v for k, v in r.items() if k != "key"} for r in kept])
    errors = latest_errors(out, {r["key"] for r in records})
    write_jsonl(out / "errors.jsonl", errors)
    stats = build_stats(records, len(errors), pairs_per_second)
    atomic_write_bytes(out / "stats.json", json.dumps(stats, indent=2).encode())
    return stats


def quality_stats(kept: list[dict]) -> dict:
    """Mean and histogram (bins of 0.1) of the kept masks' quality scores (records written
    before the score existed have none and are left out)."""
    scores = np.array([r["quality"] for r in kept if r.get("quality") is not None])
    histogram, _ = np.histogram(scores, bins=QUALITY_BINS)
    return {"quality_mean": float(scores.mean()) if scores.size else None,
            "quality_histogram": {"bins": list(QUALITY_BINS), "counts": histogram.tolist()}}


def build_stats(records: list[dict], errors: int, pairs_per_second: float | None) -> dict:
    kept = [r for r in records if r["kept"]]
    areas = np.array([r["area"] for r in kept]) if kept else np.zeros(0)
    histogram, _ = np.histogram(areas, bins=AREA_BINS)
    return {
        "pairs": len(records), "kept": len(kept), "errors": errors,
        "per_corpus": dict(Counter(r["corpus"] for r in kept)),
        "per_edit_type": dict(Counter(r["edit_type"] for r in kept if r["edit_type"])),  # corpus categories
        "per_action": dict(Counter(r.get("action", r["parse"]["action"]) for r in kept)),
        "per_method": dict(Counter(r.get("method", "sigma") for r in kept)),  # the mask generator
        "flagged": dict(Counter(flag for r in records for flag in r["flags"])),
        "dropped": dict(Counter(flag for r in records if not r["kept"] for flag in r["flags"])),
        "intent_maps": dict(Counter(r.get("provenance_grounding", "none") for r in records)),  # langsam / cache / none
        "intent_maps_none_why": dict(Counter(r["provenance_grounding_why"] for r in records
                                             if r.get("provenance_grounding_why"))),
        "mask_area_histogram": {"bins": list(AREA_BINS), "counts": histogram.tolist()},
        **quality_stats(kept),
        "pairs_per_second": pairs_per_second,  # of the last (possibly resumed) run
    }
