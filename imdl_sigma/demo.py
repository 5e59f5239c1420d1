"""`benco demo`: the main job end to end on photos that ship with pip packages, offline, on CPU.

1. synthesize a small corpus from the photos bundled with scikit-image / scikit-learn (exact masks);
2. annotate it with the checkpoint (the bundled stand-in by default) into an IMDL-BenCo JsonDataset;
3. score SIGMA and the PixDiff baselines against the true masks, pair by pair;
4. write DIR/index.html: what the page shows and how it is scored, the scores, SIGMA's quality
   score against its true F1, the worst pairs with every method's mask, and every pair with SIGMA's
   mask coloured true / false positive / missed.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from .baselines import pixdiff
from .data.atomic import atomic_write_bytes
from .data.images import load_mask, load_rgb, save_png
from .data.manifest import Pair, read_manifest
from .synth.generator import SynthConfig, bundled_photos, synthesize
from .bench.scoring import method_label, score_pairs
from .methods import expand_methods, load_predictors
from .metrics import pixel_scores
from .annotation.annotate import pair_key
from .annotation.runstate import read_records

DEMO_OUT = "runs/demo"  # under /runs/, which .gitignore lists
DEMO_SEED = 1000  # not `benco synth`'s default (0): the demo's pairs are never a default training set's
METHODS = ["sigma", "pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu"]
WORST = 4  # pairs shown with every method's mask
# Okabe-Ito colours (told apart with the common colour-vision deficiencies), RGB.
COLOURS = {"tp": ((240, 228, 66), "true positive: edited and predicted"),
           "fp": ((213, 94, 0), "false positive: predicted, not edited"),
           "fn": ((0, 114, 178), "false negative: edited, missed")}


def outcome_overlay(image: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The image with TP / FP / FN pixels tinted in COLOURS; (H, W, 3) uint8."""
    tinted = image.astype(np.float32)
    for kind, region in (("tp", predicted & truth), ("fp", predicted & ~truth), ("fn", ~predicted & truth)):
        tinted[region] = 0.35 * tinted[region] + 0.65 * np.array(COLOURS[kind][0], np.float32)
    return tinted.astype(np.uint8)


@dataclass
class ScoredMask:
    method: str
    label: str
    figure: str  # path of its overlay, relative to the page
    f1: float  # %
    iou: float  # %


@dataclass
class PairView:
    pair: Pair
    source: str  # paths relative to the page
    edited: str
    empty_truth: bool
    record: dict | None  # annotate's record (None: the pair failed)
    masks: dict[str, ScoredMask]  # method → its mask on this pair


def score_views(out: Path, pairs: list[Pair], methods: list[str], masks_dir: Path,
                records: dict[str, dict]) -> list[PairView]:
    """Per pair and method: the overlay figure (written under out/figures) and the pair's F1 / IoU."""
    views = []
    for pair in pairs:
        edited = load_rgb(pair.edited)
        truth = load_mask(pair.mask)
        masks = {}
        for method in methods:
            predicted = load_mask(masks_dir / method / f"{pair.id}.png")
            f1, iou = pixel_scores(predicted, truth)
            figure = f"figures/{pair.id}_{method}.png"
            save_png(out / figure, outcome_overlay(edited, predicted, truth))
            masks[method] = ScoredMask(method, method_label(method, {}), figure, 100 * f1, 100 * iou)
        views.append(PairView(pair, relative(pair.source, out), relative(pair.edited, out), not truth.any(),
                              records.get(pair_key(pair)), masks))
    return views


def relative(path: str, start: Path) -> str:
    return Path(path).resolve().relative_to(start.resolve()).as_posix()


def explanation(facts: dict) -> str:
    """The "what you are looking at" block, from the run's own facts."""
    photos = ", ".join(facts["photos"])
    if facts["bundled"]:
        seen = ("The bundled checkpoint was trained on pairs made from other photos (the train split of "
                "<code>shared/data/photos</code>) and has <b>never seen these photos</b>.")
    else:
        seen = ("Whether this checkpoint saw these photos depends on its training data: <code>benco synth</code> "
                "without <code>--images</code> uses these same photos (with seed 0 by default, so its pairs "
                "differ from the demo's, but the photos do not).")
    if facts["backbone"] == "standin_cnn":
        backbone = ("a <b>stand-in</b>: a small CNN trained from scratch, not the paper's frozen DINOv2-B. It shows "
                    "that the pipeline works; its scores say nothing about the paper's Table 1.")
    else:
        backbone = f"DINOv2 (<code>{html.escape(facts['backbone_weights'])}</code>), frozen."
    trained = (" This checkpoint was also trained that way (<code>grounding: none</code>)."
               if facts["grounding"] == "none" else "")
    swatches = "".join(f'<span class="swatch" style="background:rgb{colour}"></span>{html.escape(text)}<br>'
                       for colour, text in COLOURS.values())
    return f"""<h2>What you are looking at</h2>
<ul>
<li><b>Pairs.</b> {facts['n']} synthetic edit pairs from <code>benco synth</code>'s generator (seed {facts['seed']})
on the {len(facts['photos'])} photos bundled with scikit-image and scikit-learn ({html.escape(photos)}): a photo
(source), the same photo with one region edited (edited) and the exact mask of that region. Every edited image
also gets a whole-image perturbation (resampling, blur, tone, noise, JPEG), which is not part of the mask.
{facts['empty']} pair(s) ask for a global change and get only that perturbation: their true mask is
<b>empty</b> (marked below). {seen}</li>
<li><b>Checkpoint.</b> <code>{html.escape(facts['checkpoint'])}</code>; backbone: {backbone} Images are resized
to {facts['image_size']}&nbsp;px for the network and masks back to the image's size; a pixel counts as edited
where SIGMA's probability is above <b>{facts['threshold']}</b>.</li>
<li><b>Instructions were not used.</b> The demo runs without grounding weights (GroundingDINO, SAM&nbsp;2.1), so
SIGMA's intent map is the uniform ε prior and the network sees only the two images.{trained} The instruction
and the rules parser's reading of it are listed for reference.</li>
<li><b>Baselines.</b> PixDiff compares pixels: d = mean over RGB of |edited − source|, in [0, 1].
PixDiff-Fixed(τ): d &gt; τ, for τ in {', '.join(f'{t:.2f}' for t in facts['taus'])};
PixDiff-Fixed-morph: the best τ on these very pairs (a choice that favours it) followed by opening and closing
with a {pixdiff.MORPH_KERNEL}×{pixdiff.MORPH_KERNEL} square; PixDiff-Otsu: Otsu's threshold on d.</li>
<li><b>Scores.</b> Pixel F1 and IoU per pair, averaged over all {facts['n']} pairs (%). A pair with an empty
true mask scores 100 when the method predicts no pixel and 0 otherwise (IMDL-BenCo's PixelF1 scores it 0
whatever the prediction).</li>
<li><b>Dataset.</b> {facts['kept']} of {facts['n']} pairs are in the IMDL-BenCo dataset
<code>{html.escape(facts['dataset'])}</code>: <code>benco annotate</code> drops pairs whose mask is empty or
near-full (<code>--filter flag</code> keeps them, flagged); they are shown and scored here all the same.</li>
<li><b>Colours.</b><br>{swatches}Click an image to see it full size.</li>
</ul>"""


def figure_cell(path: str, caption: str, note: str = "") -> str:
    return (f'<td><a class="zoom" href="{html.escape(path)}" title="{html.escape(caption)}">'
            f'<img src="{html.escape(path)}" alt="{html.escape(caption)}" loading="lazy"></a>'
            f'<small class="caption">{html.escape(note)}</small></td>')


def pair_notes(view: PairView) -> str:
    notes = []
    if view.empty_truth:
        notes.append("<b>empty true mask</b> (no local edit): 100 if nothing is predicted, else 0")
    if view.record is None:
        notes.append("failed in <code>benco annotate</code> (see errors.jsonl)")
    elif not view.record["kept"]:
        notes.append(f"not in the dataset (quality filter: {html.escape(', '.join(view.record['flags']))})")
    return "<br>".join(notes)


def pair_row(view: PairView) -> str:
    sigma = view.masks["sigma"]
    parse = view.record["parse"] if view.record else {}
    parsed = ", ".join(f"{k}: {parse[k]}" for k in ("action", "original", "edited") if parse.get(k))
    return ("<tr" + (' class="empty"' if view.empty_truth else "") + ">"
            + figure_cell(view.source, f"{view.pair.id} source") + figure_cell(view.edited, f"{view.pair.id} edited")
            + figure_cell(sigma.figure, f"{view.pair.id} SIGMA vs true mask")
            + f"<td><b>{html.escape(view.pair.id)}</b><br>“{html.escape(view.pair.instruction)}”<br>"
            f"<small>edit: {html.escape(view.pair.edit_type or '')}; parse: {html.escape(parsed)}</small><br>"
            f"SIGMA F1 {sigma.f1:.1f}, IoU {sigma.iou:.1f}{quality_note(view)}<br><small>{baseline_links(view)}</small>"
            f"{pair_notes(view)}</td></tr>")


def quality_note(view: PairView) -> str:
    """The mask's quality score (its estimated IoU, %) from annotate's record, when it has one."""
    if view.record is None or "quality" not in view.record:
        return ""
    return f"<br>quality score {100 * view.record['quality']:.1f} (estimated IoU)"


SCATTER_SIDE, SCATTER_PAD = 320, 40  # px: the plot's square and the margin for its axes


def quality_scatter(views: list[PairView]) -> str:
    """An inline SVG: per pair, SIGMA's true F1 (y) against its quality score (x), both on [0, 1],
    with the diagonal; an empty string when no record carries a score."""
    points = [(v.record["quality"], v.masks["sigma"].f1 / 100) for v in views if v.record and "quality" in v.record]
    if not points:
        return ""
    side, pad = SCATTER_SIDE, SCATTER_PAD

    def at(x: float, y: float) -> str:
        return f'cx="{pad + x * side:.1f}" cy="{pad + (1 - y) * side:.1f}"'

    ticks = "".join(f'<text x="{pad + t * side}" y="{pad + side + 16}" text-anchor="middle">{t:g}</text>'
                    f'<text x="{pad - 6}" y="{pad + (1 - t) * side + 4}" text-anchor="end">{t:g}</text>'
                    for t in (0, 0.5, 1))
    dots = "".join(f'<circle {at(x, y)} r="3.5" fill="rgb(0,114,178)" fill-opacity="0.7"/>' for x, y in points)
    scores, f1s = zip(*points)
    varied = len(set(scores)) > 1 and len(set(f1s)) > 1
    rank = f"{spearmanr(scores, f1s).statistic:.2f}" if varied else "undefined (a constant)"
    return (f'<svg width="{side + 2 * pad}" height="{side + 2 * pad + 10}" font-size="12" role="img" '
            f'aria-label="true F1 against quality score">'
            f'<rect x="{pad}" y="{pad}" width="{side}" height="{side}" fill="none" stroke="#888"/>'
            f'<line x1="{pad}" y1="{pad + side}" x2="{pad + side}" y2="{pad}" stroke="#bbb" stroke-dasharray="4"/>'
            f'{ticks}{dots}<text x="{pad + side / 2}" y="{pad + side + 34}" text-anchor="middle">quality score</text>'
            f'<text x="12" y="{pad + side / 2}" transform="rotate(-90 12 {pad + side / 2})" text-anchor="middle">'
            f'true F1</text></svg><p>{len(points)} pairs; Spearman rank correlation {rank}. The score estimates '
            "the mask's IoU with the true edit; F1 ≥ IoU, so calibrated points lie on or above the diagonal.</p>")


def baseline_links(view: PairView) -> str:
    """The baselines' F1 on the pair, each a link to its mask."""
    return "; ".join(f'<a class="zoom" href="{html.escape(m.figure)}" title="{html.escape(view.pair.id)} '
                     f'{html.escape(m.label)}">{html.escape(m.label)}</a> {m.f1:.1f}'
                     for method, m in view.masks.items() if method != "sigma")


def worst_rows(views: list[PairView], methods: list[str]) -> str:
    rows = []
    for view in sorted(views, key=lambda v: v.masks["sigma"].f1)[:WORST]:
        cells = figure_cell(view.edited, f"{view.pair.id} edited", f"{view.pair.id}: “{view.pair.instruction}”")
        for method in methods:
            mask = view.masks[method]
            cells += figure_cell(mask.figure, f"{view.pair.id} {mask.label}", f"{mask.label}: F1 {mask.f1:.1f}")
        rows.append(f"<tr>{cells}</tr>")
    return "".join(rows)


STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:1400px;line-height:1.4}
table{border-collapse:collapse;margin-bottom:1.5em} td,th{border:1px solid #ccc;padding:4px;vertical-align:top}
td img{display:block;width:240px;height:auto;cursor:zoom-in} td small{display:block} .caption{max-width:240px}
tr.empty{background:#f3f3f3} .swatch{display:inline-block;width:1em;height:1em;margin-right:.4em;vertical-align:-.15em}
th.num,td.num{text-align:right} dialog{padding:.5em;border:0;max-width:95vw}
dialog img{height:82vh;width:auto;max-width:92vw;object-fit:contain;image-rendering:pixelated;display:block}
dialog::backdrop{background:rgba(0,0,0,.75)}"""
ZOOM_SCRIPT = """const zoom = document.getElementById('zoom');
function show(a) { zoom.querySelector('img').src = a.href; zoom.querySelector('p').textContent = a.title;
  zoom.showModal(); }
document.querySelectorAll('a.zoom').forEach(a => a.addEventListener('click', e => { e.preventDefault(); show(a); }));
zoom.addEventListener('click', () => zoom.close());
const first = location.hash === '#zoom' && document.querySelector('a.zoom');  // index.html#zoom: open one
if (first) show(first);"""


def write_page(out: Path, views: list[PairView], metrics: dict, facts: dict) -> Path:
    metric_rows = "".join(
        f"<tr><td>{html.escape(method_label(m, v))}</td><td class=num>{v['f1']:.2f}</td>"
        f"<td class=num>{v['iou']:.2f}</td><td class=num>{v['n']}</td><td class=num>{v['empty_gt']}</td></tr>"
        for m, v in metrics.items())
    shown = ["sigma", facts["best_fixed"], "pixdiff-morph", "pixdiff-otsu"]
    worst_header = "".join(f"<th>{html.escape(method_label(m, {}))}</th>" for m in shown)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imdl-sigma demo</title><style>{STYLE}</style></head>
<body><h1>imdl-sigma demo: SIGMA's edit masks on {facts['n']} held-out synthetic pairs</h1>
{explanation(facts)}
<h2>Mask quality (pixel F1 / IoU per pair, averaged, %)</h2>
<table><tr><th>method</th><th>F1</th><th>IoU</th><th>n</th><th>empty true mask</th></tr>{metric_rows}</table>
<h2>SIGMA's quality score against its true F1</h2>
{quality_scatter(views)}
<h2>The {WORST} pairs SIGMA does worst on, with every method's mask</h2>
<table><tr><th>edited</th>{worst_header}</tr>{worst_rows(views, shown)}</table>
<h2>All {len(views)} pairs</h2>
<table><tr><th>source</th><th>edited</th><th>SIGMA vs true mask</th><th>pair</th></tr>
{''.join(pair_row(view) for view in views)}</table>
<dialog id="zoom"><img alt="full size"><p></p></dialog>
<script>{ZOOM_SCRIPT}</script></body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode("utf-8"))
    return out / "index.html"


def run_demo(out_dir: str = DEMO_OUT, n: int = 24, checkpoint: str | None = None, seed: int = DEMO_SEED,
             progress: bool = True) -> dict:
    from .model.checkpoint import BUNDLED, load_checkpoint
    from .annotation.annotate import annotate

    load_checkpoint(checkpoint)  # a bad checkpoint fails before any work
    out = Path(out_dir)
    manifest = synthesize(out / "pairs", n, seed=seed, config=SynthConfig(size=256), progress=progress)
    dataset_dir = out / "dataset"
    stats = annotate([str(manifest)], str(dataset_dir), checkpoint=checkpoint, resume=True, progress=progress)
    pairs = read_manifest(manifest)
    predictors = load_predictors(METHODS, {"sigma": checkpoint})
    metrics = score_pairs(pairs, expand_methods(METHODS, pixdiff.DEFAULT_TAUS), predictors, out / "masks",
                          progress=progress, desc="demo scores")
    best_fixed = max((m for m in metrics if m.startswith("pixdiff-fixed@")), key=lambda m: metrics[m]["f1"])
    methods = ["sigma", best_fixed, "pixdiff-morph", "pixdiff-otsu"]
    views = score_views(out, pairs, methods, out / "masks", read_records(dataset_dir))
    config = predictors["sigma"].config
    facts = {
        "n": len(pairs), "seed": seed, "photos": [photo.name for photo in bundled_photos()],
        "empty": sum(view.empty_truth for view in views), "bundled": Path(checkpoint or BUNDLED).resolve() == BUNDLED,
        "checkpoint": predictors["sigma"].checkpoint, "backbone": config.backbone.kind,
        "backbone_weights": config.backbone.name_or_path, "grounding": config.grounding,
        "image_size": config.backbone.image_size, "threshold": config.mask_threshold, "taus": pixdiff.DEFAULT_TAUS,
        "kept": stats["kept"], "dataset": str(dataset_dir / "dataset.json"), "best_fixed": best_fixed,
    }
    page = write_page(out, views, metrics, facts)
    summary = {"dataset": str(dataset_dir / "dataset.json"), "page": str(page), "metrics": metrics, "stats": stats}
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
