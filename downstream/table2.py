"""`benco bench detectors`: the paper's Table 2 protocol.

For every detector: score it with its public weights on every test set ("public" row), fine-tune
it on the SIGMA-annotated training set and score it again ("fine-tuned" row). Writes
DIR/table2.md and DIR/table2.csv in the paper's layout (F1 and IoU per test set and their
average, the gain in average F1 per detector) and each run's results.json under DIR/<model>/.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from imdl_sigma.data.images import atomic_write_bytes

from .finetune import FinetuneConfig, finetune

DEFAULT_TESTS = ("autosplice", "cocoglide", "deal300k", "magicbrush", "opensdi")
ROWS = ("public", "fine-tuned")


def test_sets(items: list[str]) -> dict[str, str]:
    """`NAME` (registered) or `NAME=PATH` → {name: name or path}."""
    sets = {}
    for item in items:
        name, sep, path = item.partition("=")
        sets[name] = path if sep else name
    return sets


def run_table2(models: list[str], train: str, tests: dict[str, str], out_dir: str, config: FinetuneConfig,
               weights: dict[str, dict] | None = None, random_init: bool = False, tiny: bool = False) -> dict:
    """{model: {"public": results, "fine-tuned": results}}; `weights`: {model: {role: file}}."""
    out = Path(out_dir)
    table = {}
    for model in models:
        own = (weights or {}).get(model, {})
        public = finetune(model, None, tests, str(out / model / "public"), config, own, random_init, tiny=tiny)
        tuned = finetune(model, train, tests, str(out / model / "fine-tuned"), config, own, random_init, tiny=tiny)
        table[model] = {"public": public, "fine-tuned": tuned}
        write_tables(out, table, list(tests))  # after every detector: a long protocol keeps what it finished
    return table


def rows_of(table: dict, tests: list[str]) -> list[dict]:
    rows = []
    for model, runs in table.items():
        for kind in ROWS:
            result = runs[kind]
            row = {"model": model, "weights": kind}
            for name in tests:
                row[f"{name}_f1"] = result["tests"][name]["f1"]
                row[f"{name}_iou"] = result["tests"][name]["iou"]
            row["avg_f1"], row["avg_iou"] = result["average"]["f1"], result["average"]["iou"]
            rows.append(row)
    return rows


def write_tables(out: Path, table: dict, tests: list[str]) -> None:
    rows = rows_of(table, tests)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()} for row in rows)
    atomic_write_bytes(out / "table2.csv", buffer.getvalue().encode())
    header = "| Detector | Weights | " + " | ".join(f"{t} F1 | {t} IoU" for t in tests) + " | Avg F1 | Avg IoU |"
    lines = [header, "|---|---|" + "---|---|" * (len(tests) + 1)]
    for row in rows:
        cells = " | ".join(f"{row[f'{t}_f1']:.2f} | {row[f'{t}_iou']:.2f}" for t in tests)
        lines.append(f"| {row['model']} | {row['weights']} | {cells} | {row['avg_f1']:.2f} | {row['avg_iou']:.2f} |")
    gains = {model: runs["fine-tuned"]["average"]["f1"] - runs["public"]["average"]["f1"] for model, runs in table.items()}
    lines += ["", "| Detector | ΔF1 (fine-tuned − public) |", "|---|---|"]
    lines += [f"| {model} | {gain:+.2f} |" for model, gain in gains.items()]
    lines.append(f"| **mean** | **{sum(gains.values()) / len(gains):+.2f}** |")
    atomic_write_bytes(out / "table2.md", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out / "table2.json", json.dumps({"rows": rows, "gain_f1": gains}, indent=2).encode())
