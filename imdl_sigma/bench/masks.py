"""`benco bench masks`: mask quality of every generator on pairs with ground truth (Table 1).

Writes DIR/masks.json ({method: {"f1", "iou", "n", "empty_gt"}}, percentages; with several
datasets the row is their average, as the paper's Avg column, plus `per_dataset` rows) and
DIR/masks.md in the paper's layout; with --save-masks also DIR/[<dataset>/]<method>/<id>.png
(0/255, edited image's size).
`pixdiff-morph` uses the best τ of the PixDiff-Fixed grid on the same pairs, as the paper does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..baselines import pixdiff
from ..data.atomic import atomic_write_bytes
from ..data.manifest import read_manifest
from ..errors import BadInputError
from ..methods import expand_methods, load_predictors
from .scoring import method_label, score_pairs
from .tables import markdown_table

TABLE1_METHODS = ("pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu", "sigma")  # `--methods` unless given


def dataset_manifests(items: list[str] | str) -> dict[str, Path]:
    """`--pairs` values → {dataset name: manifest}. An item is a manifest path (named after its
    folder), NAME=MANIFEST, or a registered dataset name (its folder's pairs.jsonl)."""
    from ..data.dataset_names import resolve_dataset

    manifests = {}
    for item in [items] if isinstance(items, str) else items:
        name, sep, path = item.partition("=")
        if not sep:
            path, name = item, None
        resolved = resolve_dataset(path)
        if resolved.is_dir():
            resolved = resolved / "pairs.jsonl"
        manifests[name or resolved.parent.name] = resolved
    return manifests


def average_rows(per_dataset: dict[str, dict]) -> dict:
    """The paper's Avg column: the mean of the per-dataset scores (each dataset weighs the same)."""
    methods = next(iter(per_dataset.values())).keys()
    average = {}
    for method in methods:
        rows = [per_dataset[d][method] for d in per_dataset]
        average[method] = {"f1": float(np.mean([r["f1"] for r in rows])), "iou": float(np.mean([r["iou"] for r in rows])),
                           "n": sum(r["n"] for r in rows), "empty_gt": sum(r["empty_gt"] for r in rows)}
        if len(per_dataset) > 1:
            average[method]["per_dataset"] = {d: per_dataset[d][method] for d in per_dataset}
    return average


def run_bench_masks(pairs_paths: list[str] | str, methods: list[str], out_dir: str,
                    checkpoints: dict[str, str | None] | None = None,
                    save_masks: bool = False, taus: tuple = pixdiff.DEFAULT_TAUS, batch_size: int = 8,
                    progress: bool = True, sigma_overrides: dict | None = None) -> dict:
    """Table 1 over one or more datasets: masks.json holds {method: row} (the average over datasets,
    with `per_dataset` rows when there are several), masks.md the paper's layout. `checkpoints`:
    learned method → checkpoint (SIGMA's defaults to the bundled one); `sigma_overrides`: dotted
    keys of SIGMA's config (e.g. the inference size), as `--sigma-set`."""
    manifests = dataset_manifests(pairs_paths)
    methods = expand_methods(methods, taus)
    predictors = load_predictors(methods, checkpoints or {}, sigma_overrides)
    out = Path(out_dir)
    per_dataset = {}
    for dataset, manifest in manifests.items():
        pairs = [p for p in read_manifest(manifest) if p.mask is not None]
        if not pairs:
            raise BadInputError(f"{manifest} has no pair with a ground-truth mask")
        masks_dir = (out / dataset if len(manifests) > 1 else out) if save_masks else None
        per_dataset[dataset] = score_pairs(pairs, methods, predictors, masks_dir, taus, batch_size, progress,
                                           desc=f"bench masks [{dataset}]")
    results = average_rows(per_dataset)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "masks.json", json.dumps(results, indent=2).encode())
    atomic_write_bytes(out / "masks.md", table1_markdown(per_dataset).encode())
    return results


def table1_markdown(per_dataset: dict[str, dict]) -> str:
    """Table 1 layout: a row per method; F1 and IoU per dataset, then the average (several datasets)."""
    datasets = list(per_dataset)
    several = len(datasets) > 1
    columns = datasets + (["Avg"] if several else [])
    header = ["Method", *(f"{c} {score}" for c in columns for score in ("F1", "IoU")), "n", "empty GT"]
    average = average_rows(per_dataset)
    rows = []
    for method in per_dataset[datasets[0]]:
        scored = [per_dataset[d][method] for d in datasets] + ([average[method]] if several else [])
        label = method_label(method, per_dataset[datasets[0]][method] if not several else {})
        rows.append([label, *(f"{r[score]:.2f}" for r in scored for score in ("f1", "iou")),
                     str(average[method]["n"]), str(average[method]["empty_gt"])])
    return markdown_table(header, rows)
