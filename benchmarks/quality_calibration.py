"""Calibration of the per-mask quality score (imdl_sigma/inference/quality.py): collect each pair's
signals and true IoU with the bundled annotator, fit the logistic map on validation pairs from
training photos, and measure it on held-out ones.

    python -m benchmarks.quality_calibration collect --pairs /work/data/val3s/pairs.jsonl --out val3s.jsonl
    python -m benchmarks.quality_calibration fit --signals val3s.jsonl val3r.jsonl ...
    python -m benchmarks.quality_calibration evaluate --signals test3s.jsonl test3r.jsonl ...

`fit` prints the QualityConfig coefficients; `evaluate` scores the coefficients in QualityConfig's
defaults (or `--overrides` JSON) per file and pooled: Spearman(quality, IoU), mean |quality − IoU|,
mean F1 of all pairs and of the pairs above the lowest 10 % by quality, and a reliability table.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import spearmanr

from imdl_sigma.config import QualityConfig
from imdl_sigma.data.images import load_mask, load_pair_batch
from imdl_sigma.data.jsonl import read_jsonl, write_jsonl
from imdl_sigma.data.pairs import load_pairs
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.inference.quality import SIGNALS, quality_score
from imdl_sigma.metrics import pixel_scores

DROP_SHARE = 0.1  # the lowest share by quality that the filter check drops
RELIABILITY_BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
L2 = 1e-2  # ridge penalty of the least-squares step, on the weights (not the intercept)
LOGIT_CLIP = (0.02, 0.995)  # IoUs are clipped to this range before their logit is taken


def collect(annotator: Annotator, manifest: str, limit: int | None, batch_size: int = 8) -> list[dict]:
    """Per pair: its signals, the annotator's quality, and the mask's true F1 / IoU."""
    pairs = load_pairs([manifest], False)[:limit]
    rows = []
    threshold, config = annotator.config.mask_threshold, annotator.config
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        sources, editeds = load_pair_batch([p.source for p in chunk], [p.edited for p in chunk])
        maps = annotator.unrefined_maps(sources, editeds)
        for pair, prob, difference in zip(chunk, maps, annotator.differences(sources, editeds)):
            refined, signals = annotator.refine_with_signals(prob, difference)
            f1, iou = pixel_scores(refined > threshold, load_mask(pair.mask))
            rows.append({"id": pair.id, "edit_type": pair.edit_type, "signals": signals,
                         "quality": quality_score(signals, config.quality), "f1": f1, "iou": iou})
        print(f"{manifest}: {start + len(chunk)}/{len(pairs)}", flush=True)
    return rows


def design(rows: list[dict]) -> np.ndarray:
    return np.array([[row["signals"][name] for name in SIGNALS] for row in rows])


def fit(rows: list[dict]) -> dict:
    """Two steps: ridge least squares of the signals on logit(IoU) (IoU clipped to LOGIT_CLIP), which
    sets the ranking, then the scale and offset of the logistic map by cross-entropy to the IoU
    (soft labels), which calibrates it. Returns QualityConfig's `weights` and `bias`."""
    features, target = design(rows), np.array([row["iou"] for row in rows])
    clipped = np.clip(target, *LOGIT_CLIP)
    stacked = np.c_[np.ones(len(rows)), features]
    penalty = L2 * np.eye(stacked.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    theta = np.linalg.solve(stacked.T @ stacked + penalty, stacked.T @ np.log(clipped / (1 - clipped)))
    score = stacked @ theta

    def loss(scale_offset: np.ndarray) -> tuple[float, np.ndarray]:
        p = np.clip(1 / (1 + np.exp(-(scale_offset[0] * score + scale_offset[1]))), 1e-6, 1 - 1e-6)
        error = p - target
        value = -np.mean(target * np.log(p) + (1 - target) * np.log(1 - p))
        return value, np.array([np.mean(error * score), np.mean(error)])

    scale, offset = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B").x
    return {"weights": [round(float(scale * w), 4) for w in theta[1:]],
            "bias": round(float(scale * theta[0] + offset), 4)}


def evaluate(rows: list[dict], config: QualityConfig) -> dict:
    quality = np.array([quality_score(row["signals"], config) for row in rows])
    iou, f1 = np.array([row["iou"] for row in rows]), np.array([row["f1"] for row in rows])
    kept = quality > np.quantile(quality, DROP_SHARE)
    table = []
    for low, high in zip(RELIABILITY_BINS, RELIABILITY_BINS[1:]):
        inside = (quality >= low) & ((quality < high) | (high == 1.0))
        if inside.any():
            table.append({"bin": f"[{low:g}, {high:g}{']' if high == 1.0 else ')'}", "n": int(inside.sum()),
                          "mean_quality": round(float(quality[inside].mean()), 3),
                          "mean_iou": round(float(iou[inside].mean()), 3)})
    return {"n": len(rows), "spearman": round(float(spearmanr(quality, iou).statistic), 3),
            "mean_abs_error": round(float(np.abs(quality - iou).mean()), 3),
            "f1": round(100 * float(f1.mean()), 2), "f1_without_lowest_10pct": round(100 * float(f1[kept].mean()), 2),
            "reliability": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gather = commands.add_parser("collect", help="signals and true IoU per pair, with the bundled annotator")
    gather.add_argument("--pairs", required=True)
    gather.add_argument("--out", required=True)
    gather.add_argument("--limit", type=int, help="the first N pairs only")
    for name in ("fit", "evaluate"):
        command = commands.add_parser(name)
        command.add_argument("--signals", nargs="+", required=True, help="files written by `collect`")
    commands.choices["evaluate"].add_argument("--overrides", help="JSON of QualityConfig fields to evaluate instead")
    args = parser.parse_args()
    if args.command == "collect":
        torch.set_num_threads(1)
        write_jsonl(Path(args.out), collect(Annotator.from_checkpoint(None), args.pairs, args.limit))
        return
    files = {path: list(read_jsonl(path)) for path in args.signals}
    if args.command == "fit":
        print(json.dumps(fit([row for rows in files.values() for row in rows])))
        return
    config = replace(QualityConfig(), **json.loads(args.overrides or "{}"))
    results = {Path(path).stem: evaluate(rows, config) for path, rows in files.items()}
    results["pooled"] = evaluate([row for rows in files.values() for row in rows], config)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
