"""`benco bench masks`: mask quality of every generator on pairs with ground truth (Table 1).

Writes DIR/masks.json ({method: {"f1", "iou", "n", "empty_gt"}}, percentages) and
DIR/masks.md; with --save-masks also DIR/<method>/<id>.png (0/255, edited image's size).
`pixdiff-morph` uses the best τ of the PixDiff-Fixed grid on the same pairs, as the paper does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imdl_sigma.baselines import pixdiff
from imdl_sigma.data.datasets import match_size
from imdl_sigma.data.images import atomic_write_bytes, load_mask, load_rgb, save_mask
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError
from imdl_sigma.metrics import ScoreAccumulator

PIXDIFF_METHODS = ("pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu")


def expand_methods(methods: list[str], taus: tuple) -> list[str]:
    """`pixdiff-fixed` without @τ stands for the whole τ grid."""
    expanded = []
    for method in methods:
        if method == "pixdiff-fixed":
            expanded += [f"pixdiff-fixed@{tau:g}" for tau in taus]
        elif method.startswith("pixdiff-fixed@") or method in PIXDIFF_METHODS or method == "sigma":
            expanded.append(method)
        else:
            raise BadInputError(f"unknown method '{method}'; known: pixdiff-fixed[@TAU], pixdiff-morph, "
                                "pixdiff-otsu, sigma")
    return expanded


def run_bench_masks(pairs_path: str, methods: list[str], out_dir: str, checkpoint: str | None = None,
                    save_masks: bool = False, taus: tuple = pixdiff.DEFAULT_TAUS, batch_size: int = 8,
                    progress: bool = True) -> dict:
    from tqdm import tqdm

    pairs = [p for p in read_manifest(pairs_path) if p.mask is not None]
    if not pairs:
        raise BadInputError(f"{pairs_path} has no pair with a ground-truth mask")
    methods = expand_methods(methods, taus)
    fixed_taus = sorted({float(m.split("@")[1]) for m in methods if m.startswith("pixdiff-fixed@")}
                        | (set(taus) if "pixdiff-morph" in methods else set()))
    out = Path(out_dir)
    scores = {m: ScoreAccumulator() for m in methods}
    # The morph variant needs the best τ, known only after a pass: keep its candidates per τ.
    morph_scores = {tau: ScoreAccumulator() for tau in fixed_taus} if "pixdiff-morph" in methods else {}
    fixed_scores = {tau: ScoreAccumulator() for tau in fixed_taus}
    annotator = None
    if "sigma" in methods:
        from imdl_sigma.annotation.annotator import Annotator

        annotator = Annotator.from_checkpoint(checkpoint)

    def record(method: str, pair_id: str, pred: np.ndarray, truth: np.ndarray, acc: ScoreAccumulator) -> None:
        acc.add(pred, truth)
        if save_masks:
            save_mask(out / method / f"{pair_id}.png", pred)

    bar = tqdm(total=len(pairs), desc="bench masks", unit="pair", disable=not progress)
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
        sigma_probs = annotator.predict_proba_batch(sources, editeds) if annotator else None
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
            if sigma_probs is not None:
                record("sigma", pair.id, sigma_probs[i] > annotator.config.mask_threshold, truth, scores["sigma"])
        bar.update(len(chunk))
    bar.close()

    results = {m: scores[m].summary() for m in methods if m != "pixdiff-morph"}
    if morph_scores:
        best_tau = max(fixed_taus, key=lambda tau: fixed_scores[tau].summary()["f1"])
        results["pixdiff-morph"] = {**morph_scores[best_tau].summary(), "tau": best_tau}
        if save_masks:  # second pass only for the chosen τ
            for pair in pairs:
                edited = load_rgb(pair.edited)
                diff = pixdiff.difference_map(match_size(load_rgb(pair.source), edited, pair.id), edited)
                save_mask(out / "pixdiff-morph" / f"{pair.id}.png", pixdiff.morph(pixdiff.fixed(diff, best_tau)))
    results = {m: results[m] for m in methods}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "masks.json", json.dumps(results, indent=2).encode())
    atomic_write_bytes(out / "masks.md", markdown_table(results, Path(pairs_path).parent.name).encode())
    return results


def markdown_table(results: dict, dataset: str) -> str:
    lines = [f"| Method | {dataset} F1 | {dataset} IoU | n | empty GT |", "|---|---|---|---|---|"]
    for method, row in results.items():
        label = method + (f" (τ={row['tau']:g})" if "tau" in row else "")
        lines.append(f"| {label} | {row['f1']:.2f} | {row['iou']:.2f} | {row['n']} | {row['empty_gt']} |")
    return "\n".join(lines) + "\n"
