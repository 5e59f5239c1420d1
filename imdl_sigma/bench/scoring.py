"""Scoring mask generators against ground truth, pair by pair: SIGMA, the learned baselines and
PixDiff (`benco bench masks`, the robustness and ablation benchmarks and `benco demo` use it; the
generators by name come from imdl_sigma.methods).

`pixdiff-morph` uses the best τ of the PixDiff-Fixed grid on the same pairs, as the paper does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..baselines import pixdiff
from ..data.images import load_mask, save_mask
from ..errors import BadInputError
from ..metrics import ScoreAccumulator


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
    otsu = "pixdiff-otsu" in methods

    def record(method: str, pair_id: str, pred: np.ndarray, truth: np.ndarray, acc: ScoreAccumulator) -> None:
        acc.add(pred, truth)
        if masks_dir is not None:
            save_mask(masks_dir / method / f"{pair_id}.png", pred)

    bar = tqdm(total=len(pairs), desc=desc, unit="pair", disable=not progress)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        sources, editeds = map(list, zip(*(p.load_images() for p in chunk)))
        truths = []
        for pair, edited in zip(chunk, editeds):
            truth = load_mask(pair.mask)
            if truth.shape != edited.shape[:2]:
                raise BadInputError(f"pair {pair.id}: mask {truth.shape} and edited image "
                                    f"{edited.shape[:2]} differ in size")
            truths.append(truth)
        learned_probs = {method: predictor.predict_proba_batch(sources, editeds)
                         for method, predictor in (predictors or {}).items()}
        differences = pixdiff.PixDiff().predict_proba_batch(sources, editeds) if fixed_taus or otsu else []
        for i, (pair, truth) in enumerate(zip(chunk, truths)):
            diff = differences[i] if differences else None
            for tau in fixed_taus:
                mask = pixdiff.fixed(diff, tau)
                fixed_scores[tau].add(mask, truth)
                name = f"pixdiff-fixed@{tau:g}"
                if name in scores:
                    record(name, pair.id, mask, truth, scores[name])
                if morph_scores:
                    morph_scores[tau].add(pixdiff.morph(mask), truth)
            if otsu:
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
                diff = pixdiff.difference_map(*pair.load_images())
                save_mask(masks_dir / "pixdiff-morph" / f"{pair.id}.png", pixdiff.morph(pixdiff.fixed(diff, best_tau)))
    return {m: results[m] for m in methods}


METHOD_LABELS = {"pixdiff-morph": "PixDiff-Fixed-morph", "pixdiff-otsu": "PixDiff-Otsu", "sigma": "SIGMA",
                 "ddpm-cd": "DDPM-CD", "meta-cd": "Meta-CD"}


def method_label(method: str, row: dict) -> str:
    if method.startswith("pixdiff-fixed@"):
        return f"PixDiff-Fixed({float(method.split('@')[1]):.2f})"
    label = METHOD_LABELS.get(method, method)
    return label + (f" (τ = {row['tau']:.2f})" if "tau" in row else "")
