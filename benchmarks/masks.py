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

from imdl_sigma.baselines import LEARNED_BASELINES, pixdiff
from imdl_sigma.data.datasets import match_size
from imdl_sigma.data.images import atomic_write_bytes, load_mask, load_rgb, save_mask
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError
from imdl_sigma.metrics import ScoreAccumulator

from .results import markdown_table

PIXDIFF_METHODS = ("pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu")
# Methods that need a trained checkpoint: SIGMA and the learned change-detection baselines.
LEARNED_METHODS = ("sigma",) + tuple(name for name, spec in LEARNED_BASELINES.items() if spec.scored)


def expand_methods(methods: list[str], taus: tuple) -> list[str]:
    """`pixdiff-fixed` without @τ stands for the whole τ grid."""
    expanded = []
    for method in methods:
        if method == "pixdiff-fixed":
            expanded += [f"pixdiff-fixed@{tau:g}" for tau in taus]
        elif method.startswith("pixdiff-fixed@") or method in PIXDIFF_METHODS or method in LEARNED_METHODS:
            expanded.append(method)
        else:
            raise BadInputError(f"unknown method '{method}'; known: pixdiff-fixed[@TAU], pixdiff-morph, "
                                f"pixdiff-otsu, {', '.join(LEARNED_METHODS)}")
    return expanded


def load_predictors(methods: list[str], checkpoints: dict[str, str | None]) -> dict:
    """{learned method: predictor with `predict_proba_batch` and `config.mask_threshold`}.
    `checkpoints`: method → checkpoint path (SIGMA's defaults to the bundled one)."""
    from imdl_sigma.annotation.annotator import Annotator
    from imdl_sigma.baselines.change_model import ChangePredictor

    predictors = {}
    for method in (m for m in methods if m in LEARNED_METHODS):
        path = checkpoints.get(method)
        if method == "sigma":
            predictors[method] = Annotator.from_checkpoint(path)
        elif not path:
            raise BadInputError(f"method {method} needs its trained checkpoint: --{method}-checkpoint CKPT "
                                f"(train one with `benco train --model {method} ...`)")
        else:
            predictors[method] = ChangePredictor.from_checkpoint(path, LEARNED_BASELINES[method])
    return predictors


def score_pairs(pairs: list, methods: list[str], predictors: dict | None = None, masks_dir: Path | None = None,
                taus: tuple = pixdiff.DEFAULT_TAUS, batch_size: int = 8, progress: bool = True,
                desc: str = "bench masks") -> dict:
    """{method: {"f1", "iou", "n", "empty_gt"}} on pairs with ground truth; methods already expanded,
    `predictors` from `load_predictors` for the learned ones. With `masks_dir`, predicted masks are
    written to masks_dir/<method>/<id>.png."""
    from tqdm import tqdm

    fixed_taus = sorted({float(m.split("@")[1]) for m in methods if m.startswith("pixdiff-fixed@")}
                        | (set(taus) if "pixdiff-morph" in methods else set()))
    scores = {m: ScoreAccumulator() for m in methods}
    # The morph variant needs the best τ, known only after a pass: keep its candidates per τ.
    morph_scores = {tau: ScoreAccumulator() for tau in fixed_taus} if "pixdiff-morph" in methods else {}
    fixed_scores = {tau: ScoreAccumulator() for tau in fixed_taus}

    def record(method: str, pair_id: str, pred: np.ndarray, truth: np.ndarray, acc: ScoreAccumulator) -> None:
        acc.add(pred, truth)
        if masks_dir is not None:
            save_mask(masks_dir / method / f"{pair_id}.png", pred)

    bar = tqdm(total=len(pairs), desc=desc, unit="pair", disable=not progress)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        editeds = [load_rgb(p.edited, "edited image") for p in chunk]
        sources = [match_size(load_rgb(p.source, "source image"), e, p.id) for p, e in zip(chunk, editeds)]
        truths = []
        for pair, edited in zip(chunk, editeds):
            truth = load_mask(pair.mask)
            if truth.shape != edited.shape[:2]:
                raise BadInputError(f"pair {pair.id}: mask {truth.shape} and edited image "
                                    f"{edited.shape[:2]} differ in size")
            truths.append(truth)
        learned_probs = {method: predictor.predict_proba_batch(sources, editeds)
                         for method, predictor in (predictors or {}).items()}
        for i, (pair, source, edited, truth) in enumerate(zip(chunk, sources, editeds, truths)):
            diff = pixdiff.difference_map(source, edited)
            for tau in fixed_taus:
                mask = pixdiff.fixed(diff, tau)
                fixed_scores[tau].add(mask, truth)
                name = f"pixdiff-fixed@{tau:g}"
                if name in scores:
                    record(name, pair.id, mask, truth, scores[name])
                if morph_scores:
                    morph_scores[tau].add(pixdiff.morph(mask), truth)
            if "pixdiff-otsu" in scores:
                record("pixdiff-otsu", pair.id, pixdiff.otsu(diff), truth, scores["pixdiff-otsu"])
            for method, probs in learned_probs.items():
                record(method, pair.id, probs[i] > predictors[method].config.mask_threshold, truth, scores[method])
        bar.update(len(chunk))
    bar.close()

    results = {m: scores[m].summary() for m in methods if m != "pixdiff-morph"}
    if morph_scores:
        best_tau = max(fixed_taus, key=lambda tau: fixed_scores[tau].summary()["f1"])
        results["pixdiff-morph"] = {**morph_scores[best_tau].summary(), "tau": best_tau}
        if masks_dir is not None:  # second pass only for the chosen τ
            for pair in pairs:
                edited = load_rgb(pair.edited)
                diff = pixdiff.difference_map(match_size(load_rgb(pair.source), edited, pair.id), edited)
                save_mask(masks_dir / "pixdiff-morph" / f"{pair.id}.png", pixdiff.morph(pixdiff.fixed(diff, best_tau)))
    return {m: results[m] for m in methods}


def dataset_manifests(items: list[str] | str) -> dict[str, Path]:
    """`--pairs` values → {dataset name: manifest}. An item is a manifest path (named after its
    folder), NAME=MANIFEST, or a registered dataset name (its folder's pairs.jsonl)."""
    from imdl_sigma.data.registry import resolve_dataset

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
                    progress: bool = True) -> dict:
    """Table 1 over one or more datasets: masks.json holds {method: row} (the average over datasets,
    with `per_dataset` rows when there are several), masks.md the paper's layout. `checkpoints`:
    learned method → checkpoint (SIGMA's defaults to the bundled one)."""
    manifests = dataset_manifests(pairs_paths)
    methods = expand_methods(methods, taus)
    predictors = load_predictors(methods, checkpoints or {})
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


METHOD_LABELS = {"pixdiff-morph": "PixDiff-Fixed-morph", "pixdiff-otsu": "PixDiff-Otsu", "sigma": "SIGMA",
                 "ddpm-cd": "DDPM-CD", "meta-cd": "Meta-CD"}


def method_label(method: str, row: dict) -> str:
    if method.startswith("pixdiff-fixed@"):
        return f"PixDiff-Fixed({float(method.split('@')[1]):.2f})"
    label = METHOD_LABELS.get(method, method)
    return label + (f" (τ = {row['tau']:.2f})" if "tau" in row else "")


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
