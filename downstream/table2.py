"""`benco bench detectors`: the paper's Table 2 protocol.

For every detector: score it with its public weights on every test set ("public" row), fine-tune
it on the SIGMA-annotated training set and score it again ("fine-tuned" row). Writes
DIR/table2.md and DIR/table2.csv in the paper's layout (F1 and IoU per test set and their
average, the gain in average F1 per detector) and each run's results.json under DIR/<model>/.
A test set that shares an image (same pixels) with the training set is refused before anything
runs; a run whose prediction is the same at every pixel of a test set is flagged in table2.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from pathlib import Path

from imdl_sigma.data.atomic import atomic_write_bytes
from imdl_sigma.data.images import load_rgb
from imdl_sigma.errors import BadInputError

from .finetune import FinetuneConfig, dataset_images, finetune, resolve_data

DEFAULT_TESTS = ("autosplice", "cocoglide", "deal300k", "magicbrush", "opensdi")
ROWS = ("public", "fine-tuned")


def test_sets(items: list[str]) -> dict[str, str]:
    """`NAME` (registered) or `NAME=PATH` → {name: name or path}."""
    sets = {}
    for item in items:
        name, sep, path = item.partition("=")
        sets[name] = path if sep else name
    return sets


def pixel_hash(path: str) -> str:
    """sha256 of an image's decoded pixels and shape: the same picture in another file or format matches."""
    rgb = load_rgb(path)
    return hashlib.sha256(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()


def refuse_shared_images(train: str, tests: dict[str, str]) -> None:
    """BadInputError when a test set holds an image whose pixels are a training image's (reads every
    image of both once)."""
    with tempfile.TemporaryDirectory(prefix="table2_overlap_") as scratch:
        train_images = {pixel_hash(path): path for path in dataset_images(resolve_data(train, Path(scratch)))}
        for name, test in tests.items():
            shared = [(path, train_images[digest]) for path in dataset_images(resolve_data(test, Path(scratch)))
                      if (digest := pixel_hash(path)) in train_images]
            if shared:
                raise BadInputError(f"test set '{name}' shares {len(shared)} image(s) with the training set "
                                    f"(same pixels, e.g. {shared[0][0]} = {shared[0][1]}); a detector scored on "
                                    "its training images says nothing")


def run_table2(models: list[str], train: str, tests: dict[str, str], out_dir: str, config: FinetuneConfig,
               weights: dict[str, dict] | None = None, random_init: bool = False, tiny: bool = False) -> dict:
    """{model: {"public": results, "fine-tuned": results}}; `weights`: {model: {role: file}}."""
    refuse_shared_images(train, tests)
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
    warnings = [f"- **warning** ({kind}): {text}" for runs in table.values() for kind in ROWS
                for text in runs[kind]["warnings"]]
    lines += ["", *warnings] if warnings else []
    atomic_write_bytes(out / "table2.md", ("\n".join(lines) + "\n").encode())
    atomic_write_bytes(out / "table2.json", json.dumps({"rows": rows, "gain_f1": gains}, indent=2).encode())
