"""A miniature Table 2: do detectors learn more from SIGMA's labels than from PixDiff's?

The same training pairs (synthetic, from the training part of the photos) are labelled three ways —
SIGMA's masks (`benco annotate`, the bundled checkpoint unless --checkpoint), PixDiff-morph masks
(`benco bench masks --save-masks`; its τ is the one best on these pairs' true masks, an oracle
advantage for the baseline) and the true masks (the upper bound) — and each detector is trained
from random init on each, with the same steps and seed (`benco finetune`), then scored on the same
held-out pairs: photos never used for training, one test set per generator regime (splice,
regeneration). The learning curve (F1 every --eval-every epochs) shows whether a run has left the
BatchNorm warm-up of a randomly initialised network; a run whose prediction is constant over a
test set carries a warning. With --weights DETECTOR.ROLE=FILE a detector is also run from its
public weights (a row `DETECTOR@public`, with the zero-shot score under "public").

Writes benchmarks/results/table2_mini.json ({detector: {"sigma": f1, "pixdiff": f1, "truth": f1,
"steps": n, ...}}, F1 averaged over the test sets) and the RESULTS.md section `table2_mini`.

    python -m benchmarks.table2_mini --photos ../shared/data/photos --out /tmp/table2_mini
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from benchmarks.results import record
from imdl_sigma.bench.tables import markdown_table
from imdl_sigma.cli.flags import ConfigFlags
from imdl_sigma.data.images import atomic_write_bytes, load_mask
from imdl_sigma.metrics import ScoreAccumulator

RESULTS_JSON = Path(__file__).parent / "results" / "table2_mini.json"
SOURCES = ("sigma", "pixdiff", "truth")
TEST_REGIMES = {"splice": 1.0, "regeneration": 0.0}  # test set → the generator's splice_share


@dataclass
class MiniConfig:
    n_train: int = 64
    n_test: int = 16  # per regime
    pair_size: int = 128  # short side of the synthetic pairs (what the annotators label)
    train_seed: int = 1500
    test_seed: int = 1501
    image_size: int = 64  # detectors' input
    epochs: int = 3
    batch_size: int = 2
    eval_every: int = 1
    warmup_epochs: int = 1
    precise_bn_batches: int = 4  # BatchNorm statistics of the trained weights before each scoring
    seed: int = 0
    jobs: int = 6  # runs in parallel
    threads: int = 1  # torch threads per process (the machine is shared)


def make_pairs(photos: str, out: Path, config: MiniConfig) -> tuple[Path, dict[str, Path]]:
    """Training pairs (training photos, both regimes) and one held-out test set per regime."""
    from imdl_sigma.synth.generator import SynthConfig, synthesize

    synth = SynthConfig(size=config.pair_size, max_aspect=1.0)
    train = synthesize(out / "train", config.n_train, images=photos, seed=config.train_seed, config=synth,
                       split="train")
    tests = {regime: synthesize(out / f"test_{regime}", config.n_test, images=photos, seed=config.test_seed,
                                config=replace(synth, splice_share=share), split="test")
             for regime, share in TEST_REGIMES.items()}
    return train, tests


def label_sets(train: Path, out: Path, checkpoint: str | None) -> dict[str, Path]:
    """{source: dataset.json} of the training pairs' edited images with each source's masks, all
    three listing the pairs in the manifest's order (the same batches under the same seed)."""
    from imdl_sigma.bench.scoring import score_pairs
    from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
    from imdl_sigma.data.benco_datasets import write_json_dataset
    from imdl_sigma.data.jsonl import read_jsonl
    from imdl_sigma.data.manifest import read_manifest

    pairs = read_manifest(train)
    sigma, pixdiff = out / "labels" / "sigma", out / "labels" / "pixdiff"
    if not (sigma / "dataset.json").is_file():  # every pair kept (flagged, not dropped): the same pairs
        annotate([str(train)], str(sigma), checkpoint=checkpoint, resume=(sigma / "records").exists(),
                 config=AnnotateConfig(filters=FilterConfig(action="flag")))
    if not (pixdiff / "pixdiff-morph").is_dir():
        score_pairs(pairs, ["pixdiff-morph"], masks_dir=pixdiff, desc="pixdiff-morph labels")
    sigma_masks = {record["id"]: record["mask"] for record in read_jsonl(sigma / "manifest.jsonl")}
    masks = {"sigma": lambda p: sigma_masks[p.id], "pixdiff": lambda p: pixdiff / "pixdiff-morph" / f"{p.id}.png",
             "truth": lambda p: p.mask}
    labels = {source: out / "labels" / f"{source}.json" for source in SOURCES}
    for source, path in labels.items():
        write_json_dataset(path, [(Path(p.edited).resolve(), Path(masks[source](p)).resolve()) for p in pairs])
    return labels


def label_quality(labels: dict[str, Path]) -> dict[str, float]:
    """Pixel F1 of each source's training masks against the true masks."""
    truth = dict(json.loads(labels["truth"].read_text()))  # the same image paths in every source
    quality = {}
    for source, path in labels.items():
        scores = ScoreAccumulator()
        for image, mask in json.loads(path.read_text()):
            scores.add(load_mask(mask), load_mask(truth[image]))
        quality[source] = scores.summary()["f1"]
    return quality


def one_run(task: tuple) -> dict:
    """One (detector, label source) training; reruns return the finished run's results."""
    import torch

    import registry  # noqa: F401  (a worker process: the detectors are built by name from IMDL-BenCo's MODELS)
    from downstream.finetune import finetune

    detector, source, data, tests, out, finetune_config, weights, small, threads = task
    torch.set_num_threads(threads)
    if (Path(out) / "results.json").is_file():
        return json.loads((Path(out) / "results.json").read_text())
    return finetune(detector, data, tests, out, finetune_config, weights=weights, random_init=not weights,
                    tiny=small and not weights)


def learning_curve(results: dict) -> list[list[float]]:
    """[[steps, mean F1 over the test sets], ...] from the runs' periodic scorings."""
    return [[entry["steps"], round(sum(t["f1"] for t in entry["tests"].values()) / len(entry["tests"]), 2)]
            for entry in results["history"] if "tests" in entry]


def run(photos: str, out_dir: str, detectors: list[str], config: MiniConfig, small: set[str],
        checkpoint: str | None = None, weights: dict[str, dict] | None = None) -> dict:
    from downstream.finetune import FinetuneConfig
    from downstream.table2 import refuse_shared_images

    out = Path(out_dir)
    train, tests = make_pairs(photos, out, config)
    labels = label_sets(train, out, checkpoint)
    test_sets = {regime: str(path) for regime, path in tests.items()}
    refuse_shared_images(str(labels["truth"]), test_sets)
    finetune_config = FinetuneConfig(epochs=config.epochs, batch_size=config.batch_size, image_size=config.image_size,
                                     num_workers=0, seed=config.seed, warmup_epochs=config.warmup_epochs,
                                     eval_every=config.eval_every, precise_bn_batches=config.precise_bn_batches)
    rows = {detector: {} for detector in detectors}
    rows |= {f"{detector}@public": dict(weights=own) for detector, own in (weights or {}).items()}
    tasks = []
    for row, spec in rows.items():
        detector, own = row.split("@")[0], spec.get("weights")
        tasks += [(detector, source, str(labels[source]), test_sets, str(out / "runs" / row / source),
                   finetune_config, own, detector in small, config.threads) for source in SOURCES]
        if own:
            tasks.append((detector, "public", None, test_sets, str(out / "runs" / row / "public"), finetune_config,
                          own, False, config.threads))
    with ProcessPoolExecutor(config.jobs, mp_context=get_context("spawn")) as pool:
        finished = list(pool.map(one_run, tasks))
    table = {row: {} for row in rows}
    for task, results in zip(tasks, finished):
        row = task[0] + ("@public" if task[6] else "")
        table[row][task[1]] = round(results["average"]["f1"], 2)
        table[row]["steps"] = max(table[row].get("steps", 0), results["steps"])
        table[row].setdefault("per_test", {})[task[1]] = {k: round(v["f1"], 2) for k, v in results["tests"].items()}
        table[row].setdefault("curve", {})[task[1]] = learning_curve(results)
        table[row].setdefault("warnings", []).extend(f"{task[1]} labels: {text}" for text in results["warnings"])
    quality = label_quality(labels)
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(RESULTS_JSON, json.dumps(table, indent=2).encode())
    record("table2_mini", "Table 2 in miniature: detectors trained on SIGMA / PixDiff / true labels",
           results_markdown(table, quality, config, checkpoint))
    return table


def checkpoint_name(checkpoint: str | None) -> str:
    from imdl_sigma.model.checkpoint import BUNDLED

    path = Path(checkpoint or BUNDLED)
    return f"`{path.name}` (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})"


def results_markdown(table: dict, quality: dict, config: MiniConfig, checkpoint: str | None) -> str:
    header = ["Detector", "steps", "SIGMA labels", "PixDiff-morph labels", "true masks", "SIGMA − PixDiff",
              "true − SIGMA"]
    body = [[row, str(r["steps"]), *(f"{r[s]:.2f}" for s in SOURCES), f"{r['sigma'] - r['pixdiff']:+.2f}",
             f"{r['truth'] - r['sigma']:+.2f}"] for row, r in table.items()]
    curves = [f"- {row} / {source}: " + ", ".join(f"{steps}: {f1:.1f}" for steps, f1 in curve)
              for row, r in table.items() for source, curve in r["curve"].items()]
    warnings = [f"- **warning**: {text}" for r in table.values() for text in r["warnings"]]
    return "\n".join([
        f"Training pairs: {config.n_train} synthetic pairs ({config.pair_size} px, both regimes) from the training "
        f"photos; test: {config.n_test} pairs per regime (splice, regeneration) from the held-out photos. SIGMA "
        f"labels from {checkpoint_name(checkpoint)}. Label F1 against the true masks on the training pairs: "
        + ", ".join(f"{s} {quality[s]:.2f}" for s in SOURCES) + ". Detectors from random init at "
        f"{config.image_size} px, batch {config.batch_size}, {config.epochs} epochs, one warm-up epoch, seed "
        f"{config.seed}; pixel F1 at 0.5 averaged over the two test sets.", "",
        markdown_table(header, body), "Learning curves (steps: mean test F1):", "", *curves, "", *warnings])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", required=True, help="folder of photos (split into training / held-out)")
    parser.add_argument("--out", required=True, help="work folder (pairs, labels, runs); rerun to resume")
    parser.add_argument("--detectors", default="pscc_net,mtcl")
    parser.add_argument("--small", default="mtcl", help="detectors built as their shallow variants (CPU)")
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled one)")
    parser.add_argument("--weights", action="append", metavar="DETECTOR.ROLE=FILE",
                        help="public weights: adds a DETECTOR@public row trained from them")
    ConfigFlags(MiniConfig).add(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import torch

    from imdl_sigma.cli.options import detector_weights
    from imdl_sigma.errors import SigmaError

    args = parse_args(argv)
    config = ConfigFlags(MiniConfig).build(args)
    torch.set_num_threads(config.threads)
    try:
        table = run(args.photos, args.out, args.detectors.split(","), config, set(args.small.split(",")),
                    args.checkpoint, detector_weights(args.weights))
    except SigmaError as err:
        print(f"table2_mini: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({row: {k: v for k, v in r.items() if k in (*SOURCES, "steps")} for row, r in table.items()}))


if __name__ == "__main__":
    main()
