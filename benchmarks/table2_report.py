"""The mini Table 2's report (benchmarks/table2_mini.py): the table of mean ± std over seeds per
detector, arm and test set, the issue's checks (SIGMA − PixDiff ≥ 3 F1 and > 2 × the pooled seed
std; truth ≥ SIGMA − 1), the learning curves and the runs' warnings, as Markdown."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from imdl_sigma.bench.tables import markdown_table

MIN_GAIN = 3.0  # F1 points SIGMA's labels must beat PixDiff's by
STD_FACTOR = 2.0  # ... and by more than this many pooled seed standard deviations
CEILING_SLACK = 1.0  # the truth arm may trail SIGMA by at most this (the ceiling, within noise)


def checkpoint_name(checkpoint: str | None) -> str:
    from imdl_sigma.model.checkpoint import BUNDLED

    path = Path(checkpoint or BUNDLED)
    return f"`{path.name}` (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})"


def signal_checks(arms: dict) -> list[dict]:
    """Per test set: SIGMA − PixDiff, 2 × the pooled seed std of the two arms, truth − SIGMA, and
    whether the gap holds (≥ MIN_GAIN and > STD_FACTOR × pooled std) with truth ≥ SIGMA − CEILING_SLACK."""
    checks = []
    for test, sigma in arms["sigma"]["per_test"].items():
        pixdiff, truth = arms["pixdiff"]["per_test"][test], arms["truth"]["per_test"][test]
        gap, ceiling = sigma["mean"] - pixdiff["mean"], truth["mean"] - sigma["mean"]
        pooled = math.sqrt((sigma["std"] ** 2 + pixdiff["std"] ** 2) / 2)
        checks.append({"test": test, "gap": gap, "noise": STD_FACTOR * pooled, "ceiling": ceiling,
                       "holds": gap >= MIN_GAIN and gap > STD_FACTOR * pooled and ceiling >= -CEILING_SLACK})
    return checks


def results_markdown(table: dict, config, checkpoint: str | None, tau: float, photos: str) -> str:
    """`config`: the run's MiniConfig; `tau`: PixDiff-morph's τ; `photos`: the photo folder."""
    first = next(iter(table.values()))
    tests = list(next(iter(first["arms"].values()))["per_test"])
    header = ["Detector", "Arm", "label F1", *(f"{test} F1" for test in tests)]
    body = [[detector, arm, f"{row['label_f1']:.2f}",
             *(f"{row['per_test'][t]['mean']:.2f} ± {row['per_test'][t]['std']:.2f}" for t in tests)]
            for detector, r in table.items() for arm, row in r["arms"].items()]
    floor = first.get("all_foreground_f1")
    if floor:
        body.append(["(every pixel edited)", "", "", *(f"{floor[t]:.2f}" for t in tests)])
    checks = [[detector, c["test"], f"{c['gap']:+.2f}", f"{c['noise']:.2f}", f"{c['ceiling']:+.2f}",
               "yes" if c["holds"] else "**no**"]
              for detector, r in table.items() for c in signal_checks(r["arms"])]
    curves = [f"- {detector} / {arm}: " + ", ".join(f"{steps}: {f1:.1f}" for steps, f1 in row["curve"])
              for detector, r in table.items() for arm, row in r["arms"].items()]
    warnings = [f"- **warning** {detector} / {arm}: {text}" for detector, r in table.items()
                for arm, row in r["arms"].items() for text in row["warnings"]]
    return "\n".join([
        f"Photos: `{photos}`, split as `benco synth --split` (every 5th held out). Detector training pairs: "
        f"{first['n_train']} pairs ({config.pair_size} px, both regimes) from the held-out half `test-a`, never "
        f"seen by the annotator; test pairs: {config.n_test} per regime from the other half `test-b`; "
        f"PixDiff-morph's τ = {tau:g}, the best on {2 * config.n_val} validation pairs from the training photos. "
        f"SIGMA labels from {checkpoint_name(checkpoint)}. Detectors from random init at {config.image_size} px, "
        f"batch {config.batch_size}, {first['steps']} steps, seeds {first['seeds']}; per-image pixel F1 at 0.5, "
        "mean ± sample std over the seeds.", "",
        markdown_table(header, body),
        f"Checks (SIGMA − PixDiff ≥ {MIN_GAIN:g} and > {STD_FACTOR:g} × the pooled seed std; truth − SIGMA "
        f"≥ −{CEILING_SLACK:g})" + (":" if len(first["seeds"]) > 1 else
                                   "; with one seed the std is 0, so they cannot weigh the gap against seed noise:"),
        "",
        markdown_table(["Detector", "Test", "SIGMA − PixDiff", f"{STD_FACTOR:g} × pooled std", "truth − SIGMA",
                        "holds"], checks),
        "Learning curves (steps: mean test F1 over the seeds):", "", *curves, "", *warnings])
