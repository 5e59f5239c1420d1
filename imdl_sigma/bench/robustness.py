"""`benco bench robustness` (paper Fig. 4): mask quality under JPEG, Gaussian noise and Gaussian blur,
and, when asked (`--box-blur`, `--brightness`, `--contrast`, `--colour-levels`), under the other
global attacks of copy-move benchmarks (photometric/degrade.py).

Each perturbation, at each level, is applied to the test pairs' edited images (or to both images
with --apply-to both), the perturbed pairs are written under DIR/perturbed/<kind>_<level>/, and
every method is scored on them exactly as `bench masks` does. Writes DIR/robustness.csv
(kind, level, method, f1, iou, n), DIR/robustness.json, DIR/robustness.md (one F1 table per
perturbation: methods × levels) and DIR/robustness.png (F1 per level, one panel per
perturbation, the clean score as the first point).

    benco bench robustness --pairs PAIRS --out DIR [--checkpoint CKPT]
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from ..photometric.degrade import check_level, degrade
from ..data.atomic import atomic_write_bytes
from ..data.images import load_rgb, save_png
from ..data.manifest import Pair, read_manifest
from ..errors import BadInputError
from ..methods import expand_methods, load_predictors
from .scoring import method_label, score_pairs
from .tables import markdown_table

ApplyTo = Literal["edited", "both"]
APPLY_TO = get_args(ApplyTo)
FIG4_METHODS = ("pixdiff-fixed@0.1", "pixdiff-morph", "pixdiff-otsu", "sigma")  # `--methods` unless given
OTHER_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
                "tab:olive", "tab:cyan"]  # every method but SIGMA (red)


@dataclass
class RobustnessConfig:
    levels: dict = field(default_factory=lambda: {
        "jpeg": (90, 70, 50),  # JPEG quality
        "noise": (0.01, 0.03, 0.05),  # Gaussian noise σ, images in [0, 1]
        "blur": (1.0, 2.0, 3.0),  # Gaussian blur σ in pixels
    })
    apply_to: ApplyTo = "edited"  # perturb the edited image, or both images
    seed: int = 0  # of the noise


def perturbed_pairs(pairs: list[Pair], kind: str, level: float, folder: Path, config: RobustnessConfig) -> list[Pair]:
    """Write the perturbed images (lossless PNG after the perturbation); masks stay where they are."""
    rng = np.random.default_rng(config.seed)
    out = []
    for pair in pairs:
        edited_path = folder / "edited" / f"{pair.id}.png"
        save_png(edited_path, degrade(load_rgb(pair.edited, "edited image"), kind, level, rng))
        source_path = pair.source
        if config.apply_to == "both":
            source_path = folder / "source" / f"{pair.id}.png"
            save_png(source_path, degrade(load_rgb(pair.source, "source image"), kind, level, rng))
        out.append(Pair(pair.id, str(source_path), str(edited_path), pair.instruction, pair.mask, pair.edit_type,
                        pair.corpus))
    return out


def run_robustness(pairs_path: str, methods: list[str], out_dir: str, checkpoints: dict[str, str | None] | None = None,
                   config: RobustnessConfig | None = None, batch_size: int = 8, progress: bool = True,
                   sigma_overrides: dict | None = None) -> list[dict]:
    config = config or RobustnessConfig()
    if config.apply_to not in APPLY_TO:
        raise BadInputError(f"--apply-to must be one of {', '.join(APPLY_TO)}")
    if not config.levels:
        raise BadInputError("every perturbation was skipped: give at least one level")
    for kind, levels in config.levels.items():
        for level in levels:
            check_level(kind, level)  # before any work
    pairs = [p for p in read_manifest(pairs_path) if p.mask is not None]
    if not pairs:
        raise BadInputError(f"{pairs_path} has no pair with a ground-truth mask")
    methods = expand_methods(methods, (0.02, 0.05, 0.10, 0.15, 0.20))
    predictors = load_predictors(methods, checkpoints or {}, sigma_overrides)
    out = Path(out_dir)
    rows = []

    def add_rows(kind: str, level, scored: dict) -> None:
        for method, row in scored.items():
            rows.append({"kind": kind, "level": level, "method": method, "f1": round(row["f1"], 3),
                         "iou": round(row["iou"], 3), "n": row["n"]})

    clean = score_pairs(pairs, methods, predictors, batch_size=batch_size, progress=progress, desc="clean")
    for kind, levels in config.levels.items():
        add_rows(kind, "clean", clean)
        for level in levels:
            degraded = perturbed_pairs(pairs, kind, level, out / "perturbed" / f"{kind}_{level:g}", config)
            scored = score_pairs(degraded, methods, predictors, batch_size=batch_size, progress=progress,
                                 desc=f"{kind} {level:g}")
            add_rows(kind, level, scored)
    write_outputs(out, rows, config)
    return rows


def write_outputs(out: Path, rows: list[dict], config: RobustnessConfig) -> None:
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["kind", "level", "method", "f1", "iou", "n"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "robustness.csv", buffer.getvalue().encode())
    atomic_write_bytes(out / "robustness.json", json.dumps(rows, indent=2).encode())
    atomic_write_bytes(out / "robustness.md", markdown_tables(rows).encode())
    plot(rows, out / "robustness.png", config)


def markdown_tables(rows: list[dict]) -> str:
    """One table per perturbation kind: a row per method, a column per level (pixel F1, %)."""
    tables = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        kind_rows = [r for r in rows if r["kind"] == kind]
        levels = list(dict.fromkeys(str(r["level"]) for r in kind_rows))
        f1 = {(r["method"], str(r["level"])): r["f1"] for r in kind_rows}
        methods = dict.fromkeys(r["method"] for r in kind_rows)
        tables.append(markdown_table([kind, *levels],
                                     [[method, *(f"{f1[method, level]:.2f}" for level in levels)] for method in methods]))
    return "\n".join(tables)


def plot(rows: list[dict], path: Path, config: RobustnessConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"jpeg": "JPEG quality", "noise": "Gaussian noise σ", "blur": "Gaussian blur σ (px)",
              "box_blur": "box blur kernel (px)", "brightness": "brightness: output top",
              "contrast": "contrast: input top", "colour_levels": "colour levels per channel"}
    kinds = list(config.levels)
    figure, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.6), sharey=True, squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    other_colors = itertools.cycle(OTHER_COLORS)
    styles = {m: dict(linewidth=2.5, color="tab:red") if m == "sigma" else dict(linewidth=1.2, color=next(other_colors))
              for m in methods}  # SIGMA alone in red
    for axis, kind in zip(axes[0], kinds):
        ticks = ["clean"] + [f"{level:g}" for level in config.levels[kind]]
        for method in methods:
            scores = [r["f1"] for r in rows if r["kind"] == kind and r["method"] == method]
            axis.plot(range(len(scores)), scores, marker="o", label=method_label(method, {}), **styles[method])
        axis.set_xticks(range(len(ticks)), ticks)
        axis.set_xlabel(titles.get(kind, kind))
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("pixel F1 (%)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    figure.suptitle(f"Robustness (perturbation applied to the {'edited image' if config.apply_to == 'edited' else 'both images'})")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
