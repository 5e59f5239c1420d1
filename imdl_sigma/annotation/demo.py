"""`benco demo`: the main job end to end on photos that ship with pip packages, offline, on CPU.

1. synthesize a small corpus (scikit-image / scikit-learn photos, exact masks);
2. annotate it with the bundled checkpoint into an IMDL-BenCo JsonDataset;
3. score the masks against the known ones (SIGMA and the PixDiff baselines);
4. write DIR/index.html: source, edited, predicted and true mask side by side.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import cv2
import numpy as np

from ..data.images import atomic_write_bytes, load_mask, load_rgb, save_png
from ..data.jsonl import read_jsonl
from ..data.manifest import read_manifest
from ..metrics import pixel_scores
from ..data.synth import SynthConfig, synthesize

THUMB = 160


def thumbnail(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = THUMB / max(height, width)
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def overlay(image: np.ndarray, mask: np.ndarray, colour=(255, 0, 0)) -> np.ndarray:
    tinted = image.astype(np.float32).copy()
    tinted[mask] = 0.45 * tinted[mask] + 0.55 * np.array(colour, np.float32)
    return tinted.astype(np.uint8)


def write_page(out: Path, rows: list[dict], metrics: dict) -> Path:
    figures = out / "figures"
    cells = []
    for row in rows:
        names = {}
        for kind, image in row["images"].items():
            name = f"{row['id']}_{kind}.png"
            save_png(figures / name, thumbnail(image))
            names[kind] = f"figures/{name}"
        cells.append(
            "<tr>" + "".join(f'<td><img src="{names[k]}" alt="{k}"></td>' for k in ("source", "edited", "predicted", "truth"))
            + f"<td>{html.escape(row['instruction'])}<br><small>{html.escape(row['parse'])}</small><br>"
            f"F1 {row['f1']:.1f}</td></tr>"
        )
    metric_rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{v['f1']:.2f}</td><td>{v['iou']:.2f}</td><td>{v['n']}</td></tr>"
        for m, v in metrics.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imdl-sigma demo</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}} img{{display:block}}</style></head>
<body><h1>imdl-sigma demo</h1>
<p>Synthetic edit pairs from photos bundled with scikit-image / scikit-learn, annotated by the bundled
stand-in checkpoint. Predicted and true masks are drawn in red over the edited image.</p>
<h2>Mask quality (per-image pixel F1 / IoU, %)</h2>
<table><tr><th>method</th><th>F1</th><th>IoU</th><th>n</th></tr>{metric_rows}</table>
<h2>Pairs</h2>
<table><tr><th>source</th><th>edited</th><th>SIGMA mask</th><th>true mask</th><th>instruction / parse</th></tr>
{''.join(cells)}</table></body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode("utf-8"))
    return out / "index.html"


def run_demo(out_dir: str = "sigma_demo", n: int = 24, checkpoint: str | None = None, seed: int = 0,
             progress: bool = True) -> dict:
    from benchmarks.masks import run_bench_masks

    from ..training.checkpoint import load_checkpoint
    from .annotate import annotate

    load_checkpoint(checkpoint)  # a bad checkpoint fails before any work
    out = Path(out_dir)
    manifest = synthesize(out / "pairs", n, seed=seed, config=SynthConfig(size=256), progress=progress)
    dataset_dir = out / "dataset"
    stats = annotate([str(manifest)], str(dataset_dir), checkpoint=checkpoint, resume=True, progress=progress)
    metrics = run_bench_masks(str(manifest), ["sigma", "pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu"],
                              str(out / "metrics"), checkpoints={"sigma": checkpoint}, progress=progress)
    records = list(read_jsonl(dataset_dir / "manifest.jsonl"))
    truth_of = {pair.id: pair.mask for pair in read_manifest(manifest)}
    rows = []
    for record in records:
        edited = load_rgb(record["edited"])
        predicted = load_mask(record["mask"])
        truth = load_mask(truth_of[record["id"]])
        rows.append({
            "id": record["id"], "instruction": record["instruction"],
            "parse": json.dumps({k: record["parse"][k] for k in ("original", "edited", "action")}),
            "f1": 100 * pixel_scores(predicted, truth)[0],
            "images": {"source": load_rgb(record["source"]), "edited": edited,
                       "predicted": overlay(edited, predicted), "truth": overlay(edited, truth)},
        })
    page = write_page(out, rows, metrics)
    summary = {"dataset": str(dataset_dir / "dataset.json"), "page": str(page), "metrics": metrics, "stats": stats}
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
