"""A miniature Table 2 (paper §4.4): do detectors learn more from SIGMA's labels than from PixDiff's?

The corpus is one the annotator never saw, as in the paper (SIGMA trained on BR-Gen, applied to
AnyEdit): the bundled checkpoint was trained on the photos' `train` split, so the detectors'
training pairs come from one half of the held-out photos (`benco synth --split test-a`, both
regimes) and their test pairs, one set per regime (splice, regeneration), from the other half
(`--split test-b`). The same training pairs are labelled by each arm through `benco annotate`:
`sigma` (the bundled checkpoint unless --checkpoint), `pixdiff` (`--method pixdiff-morph`, its τ
chosen on validation pairs from the training photos, never on these), `truth` (the synthetic
masks, the ceiling) and, when the annotation records carry a `quality` score, `sigma-q10`
(SIGMA's labels less their lowest-quality tenth). Each arm's label F1 against the true masks is
reported. Every detector is trained from random init on every arm with every seed
(`downstream.finetune`, as `benco finetune`), scored on every test set after each epoch (the
learning curve; a run predicting one value everywhere is flagged), and keeps its final
checkpoint: `--score NAME=MANIFEST` scores all of them on another manifest later.

Resumable: a rerun skips finished runs and continues a killed one from its last epoch.

Writes OUT/table2_mini.json ({detector: {"steps", "n_train", "seeds", "arms": {arm: {"label_f1",
"per_test": {test: {"mean", "std"}}}}, ...}}) and OUT/table2_mini.md; with --record also
benchmarks/results/table2_mini.json and the RESULTS.md section `table2_mini`.

    OMP_NUM_THREADS=1 python -m benchmarks.table2_mini --photos ../shared/data/photos --out /tmp/table2_mini --record
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

import registry  # noqa: F401  (here and in the spawned runs: the detectors are built by name from MODELS)
from benchmarks.results import record
from benchmarks.table2_report import results_markdown
from imdl_sigma.cli.flags import ConfigFlags
from imdl_sigma.data.atomic import atomic_write_bytes
from imdl_sigma.data.images import load_mask
from imdl_sigma.errors import BadInputError
from imdl_sigma.metrics import ScoreAccumulator

RESULTS_JSON = Path(__file__).parent / "results" / "table2_mini.json"
TEST_REGIMES = {"splice": 1.0, "regeneration": 0.0}  # test set → the generator's splice_share


@dataclass
class MiniConfig:
    n_train: int = 2000  # detector training pairs (both regimes), from the held-out photos' half test-a
    n_test: int = 150  # test pairs per regime, from the other half (test-b)
    n_val: int = 100  # validation pairs per regime from the training photos: PixDiff-morph's τ is chosen on them
    pair_size: int = 128  # short side of the synthetic pairs (what the annotators label)
    train_seed: int = 2500
    test_seed: int = 2501
    val_seed: int = 2502
    image_size: int = 128  # detectors' input
    steps: int = 1500  # optimiser steps per run, at least (whole epochs)
    batch_size: int = 4  # detectors' batch: a small IML-ViT run of 1,500 steps is then ≈ 11 CPU-minutes
    warmup_epochs: int = 1
    precise_bn_batches: int = 4  # BatchNorm statistics of the trained weights before each scoring
    seeds: int = 2  # each (detector, arm) is trained with seeds 0 … seeds − 1
    quality_drop: float = 0.1  # sigma-q10: the share of SIGMA's labels with the lowest quality dropped
    arms: str = "truth,sigma,pixdiff"  # the label arms trained (sigma-q10 as well when named here)
    # peak lr per detector, each the best of 1e-4 / 5e-4 / 2e-3 on the validation pairs after one epoch
    # (RESULTS.md); a detector not named trains at its default
    lr: str = "iml_vit=1e-4,mtcl=5e-4"
    jobs: int = 2  # runs (and pair-synthesis workers) in parallel
    threads: int = 1  # torch threads per process (the machine is shared)


def make_pairs(photos: str, out: Path, config: MiniConfig) -> tuple[Path, dict[str, Path], list[Path]]:
    """Training pairs (held-out half test-a, both regimes), one test set per regime (half test-b)
    and one validation set per regime (training photos)."""
    from imdl_sigma.synth.generator import SynthConfig, synthesize

    synth = SynthConfig(size=config.pair_size, max_aspect=1.0)
    synth_options = {"images": photos, "workers": config.jobs}
    train = synthesize(out / "train", config.n_train, seed=config.train_seed, config=synth, split="test-a",
                       **synth_options)
    tests = {regime: synthesize(out / f"test_{regime}", config.n_test, seed=config.test_seed,
                                config=replace(synth, splice_share=share), split="test-b", **synth_options)
             for regime, share in TEST_REGIMES.items()}
    val = [synthesize(out / f"val_{regime}", config.n_val, seed=config.val_seed, config=replace(synth, splice_share=share),
                      split="train", **synth_options) for regime, share in TEST_REGIMES.items()]
    return train, tests, val


def pixdiff_tau(val: list[Path], out: Path) -> float:
    """PixDiff-morph's τ: the best of the PixDiff-Fixed grid on the validation pairs (as `bench masks`)."""
    from imdl_sigma.bench.scoring import score_pairs
    from imdl_sigma.data.manifest import read_manifest

    chosen = out / "pixdiff_tau.json"
    if not chosen.is_file():
        pairs = [pair for manifest in val for pair in read_manifest(manifest)]
        row = score_pairs(pairs, ["pixdiff-morph"], desc="pixdiff-morph τ on validation pairs")["pixdiff-morph"]
        atomic_write_bytes(chosen, json.dumps(row).encode())
    return json.loads(chosen.read_text())["tau"]


def annotated(train: Path, out: Path, method: str, checkpoint: str | None, tau: float) -> list[dict]:
    """`benco annotate --method METHOD --filter flag` of the training pairs (every pair kept); its records."""
    from imdl_sigma.annotation.annotate import AnnotateConfig, FilterConfig, annotate
    from imdl_sigma.data.jsonl import read_jsonl

    if not (out / "manifest.jsonl").is_file():
        config = AnnotateConfig(filters=FilterConfig(action="flag"), method=method, pixdiff_tau=tau)
        annotate([str(train)], str(out), checkpoint=checkpoint, resume=(out / "records").exists(), config=config)
    return list(read_jsonl(out / "manifest.jsonl"))


def without_lowest_quality(records: list[dict], share: float) -> list[dict]:
    """The records less the `share` with the lowest `quality` score."""
    cut = int(round(share * len(records)))
    return sorted(records, key=lambda r: r["quality"])[cut:]


def label_sets(train: Path, out: Path, checkpoint: str | None, tau: float, quality_drop: float) -> dict[str, Path]:
    """{arm: dataset.json} of the training pairs' edited images with each arm's masks, in the
    manifest's order (the same batches under the same seed; sigma-q10 a subset)."""
    from imdl_sigma.data.benco_datasets import write_json_dataset
    from imdl_sigma.data.manifest import read_manifest

    pairs = read_manifest(train)
    sigma = annotated(train, out / "labels" / "sigma", "sigma", checkpoint, tau)
    pixdiff = annotated(train, out / "labels" / "pixdiff", "pixdiff-morph", None, tau)
    masks = {"truth": {p.id: p.mask for p in pairs}, "sigma": {r["id"]: r["mask"] for r in sigma},
             "pixdiff": {r["id"]: r["mask"] for r in pixdiff}}
    if all(r.get("quality") is not None for r in sigma):
        masks["sigma-q10"] = {r["id"]: r["mask"] for r in without_lowest_quality(sigma, quality_drop)}
    labels = {arm: out / "labels" / f"{arm}.json" for arm in masks}
    for arm, path in labels.items():
        write_json_dataset(path, [(Path(p.edited).resolve(), Path(masks[arm][p.id]).resolve())
                                  for p in pairs if p.id in masks[arm]])
    return labels


def label_quality(labels: dict[str, Path]) -> dict[str, float]:
    """Per-image pixel F1 of each arm's training masks against the true masks."""
    truth = dict(json.loads(labels["truth"].read_text()))  # the same image paths in every arm
    quality = {}
    for arm, path in labels.items():
        scores = ScoreAccumulator()
        for image, mask in json.loads(path.read_text()):
            scores.add(load_mask(mask), load_mask(truth[image]))
        quality[arm] = scores.summary()["f1"]
    return quality


def detector_lrs(text: str) -> dict[str, float]:
    """"iml_vit=1e-4,mtcl=5e-4" → {"iml_vit": 1e-4, "mtcl": 5e-4}."""
    try:
        return {name.strip(): float(lr) for name, lr in (item.split("=") for item in text.split(",") if item.strip())}
    except ValueError:
        raise BadInputError(f"--lr takes DETECTOR=LR[,DETECTOR=LR...], not '{text}'") from None


def all_foreground_f1(manifest: str) -> float:
    """Mean per-image F1 of a mask covering the whole image (0 on a pair with no edited pixel)."""
    from imdl_sigma.data.manifest import read_manifest

    areas = [float(np.mean(load_mask(pair.mask) > 0)) for pair in read_manifest(manifest)]
    return round(100 * float(np.mean([2 * a / (1 + a) for a in areas])), 2)


@dataclass
class Run:
    """One (detector, arm, seed) training, in its own folder."""

    detector: str
    arm: str
    seed: int
    folder: Path

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint-last.pth"


def one_run(task: tuple) -> dict:
    """Train one Run (continuing a killed one from its last epoch); a finished one returns its results."""
    import torch

    from downstream.finetune import finetune

    run, data, tests, finetune_config, small, threads = task
    torch.set_num_threads(threads)
    if (run.folder / "results.json").is_file():
        return json.loads((run.folder / "results.json").read_text())
    resume = str(run.checkpoint) if run.checkpoint.is_file() else None
    return finetune(run.detector, data, tests, str(run.folder), replace(finetune_config, seed=run.seed),
                    random_init=True, resume=resume, tiny=small)


def score_saved(run: Run, name: str, manifest: str, finetune_config, small: bool) -> dict:
    """A finished run's final checkpoint scored on another manifest (written under its folder)."""
    from downstream.finetune import finetune

    return finetune(run.detector, None, {name: manifest}, str(run.folder / "scores" / name), finetune_config,
                    random_init=True, resume=str(run.checkpoint), tiny=small)["tests"][name]


def epochs_for(config: MiniConfig, n_train: int) -> int:
    """Whole epochs giving at least `config.steps` steps (the loader drops a last partial batch)."""
    per_epoch = max(1, n_train // config.batch_size)
    return math.ceil(config.steps / per_epoch)


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (0 for one value), rounded to 2 decimals."""
    return {"mean": round(float(np.mean(values)), 2),
            "std": round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 2)}


def learning_curve(histories: list[list[dict]]) -> list[list[float]]:
    """[[steps, mean F1 over the test sets and the seeds], ...] from the runs' periodic scorings."""
    points: dict[int, list[float]] = {}
    for history in histories:
        for entry in history:
            if "tests" in entry:
                points.setdefault(entry["steps"], []).append(np.mean([t["f1"] for t in entry["tests"].values()]))
    return [[steps, round(float(np.mean(f1s)), 2)] for steps, f1s in sorted(points.items())]


def table_rows(runs: list[Run], results: list[dict], quality: dict, config: MiniConfig, n_train: int) -> dict:
    """The issue's schema, per detector: steps, n_train, seeds and per arm the label F1 and the mean ± std
    over seeds on each test set; plus each arm's learning curve and the runs' warnings."""
    table = {}
    for detector in dict.fromkeys(run.detector for run in runs):
        mine = [(run, result) for run, result in zip(runs, results) if run.detector == detector]
        arms = {}
        for arm in dict.fromkeys(run.arm for run, _ in mine):
            done = [result for run, result in mine if run.arm == arm]
            tests = done[0]["tests"]
            arms[arm] = {"label_f1": round(quality[arm], 2),
                         "per_test": {name: mean_std([r["tests"][name]["f1"] for r in done]) for name in tests},
                         "curve": learning_curve([r["history"] for r in done]),
                         "warnings": [w for r in done for w in r["warnings"]]}
        table[detector] = {"steps": max(result["steps"] for _, result in mine), "n_train": n_train,
                           "seeds": list(range(config.seeds)), "arms": arms}
    return table


def run(photos: str, out_dir: str, detectors: list[str], config: MiniConfig, small: set[str],
        checkpoint: str | None = None, extra_tests: dict[str, str] | None = None) -> dict:
    from downstream.finetune import FinetuneConfig
    from downstream.table2 import refuse_shared_images

    out = Path(out_dir)
    train, tests, val = make_pairs(photos, out, config)
    tau = pixdiff_tau(val, out)
    labels = label_sets(train, out, checkpoint, tau, config.quality_drop)
    test_sets = {regime: str(path) for regime, path in tests.items()} | (extra_tests or {})
    refuse_shared_images(str(labels["truth"]), test_sets)
    n_train = len(json.loads(labels["truth"].read_text()))
    finetune_config = FinetuneConfig(epochs=epochs_for(config, n_train), batch_size=config.batch_size,
                                     image_size=config.image_size, num_workers=0, warmup_epochs=config.warmup_epochs,
                                     eval_every=1, precise_bn_batches=config.precise_bn_batches)
    arms = [arm for arm in config.arms.split(",") if arm in labels]
    runs = [Run(detector, arm, seed, out / "runs" / detector / arm / f"seed{seed}")
            for detector in detectors for arm in arms for seed in range(config.seeds)]
    lrs = detector_lrs(config.lr)
    tasks = [(r, str(labels[r.arm]), test_sets, replace(finetune_config, lr=lrs.get(r.detector, 0.0)),
              r.detector in small, config.threads) for r in runs]
    with ProcessPoolExecutor(config.jobs, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(one_run, tasks))
    table = table_rows(runs, results, label_quality(labels), config, n_train)
    for row in table.values():  # the floor: a detector marking every pixel edited
        row["all_foreground_f1"] = {name: all_foreground_f1(path) for name, path in test_sets.items()}
    markdown = results_markdown(table, config, checkpoint, tau, photos)
    atomic_write_bytes(out / "table2_mini.json", json.dumps(table, indent=2).encode())
    atomic_write_bytes(out / "table2_mini.md", markdown.encode())
    return table


def record_results(out: Path) -> None:
    """The run's table into benchmarks/results/table2_mini.json and the RESULTS.md section."""
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(RESULTS_JSON, (out / "table2_mini.json").read_bytes())
    record("table2_mini", "Table 2 in miniature: detectors trained on SIGMA / PixDiff / true labels",
           (out / "table2_mini.md").read_text())


def score_runs(out_dir: str, detectors: list[str], small: set[str], tests: dict[str, str]) -> dict:
    """Every saved final checkpoint under OUT/runs scored on each of `tests`: {test: {detector: {arm:
    mean ± std}}}, written to OUT/scores.json."""
    from downstream.finetune import FinetuneConfig

    out = Path(out_dir)
    scores: dict = {}
    for name, manifest in tests.items():
        for detector in detectors:
            for arm_dir in sorted(p for p in (out / "runs" / detector).iterdir() if p.is_dir()):
                runs = [Run(detector, arm_dir.name, int(seed.name[4:]), seed)
                        for seed in sorted(arm_dir.glob("seed*")) if (seed / "results.json").is_file()]
                saved = json.loads((runs[0].folder / "results.json").read_text())["config"] if runs else {}
                config = FinetuneConfig(**{**saved, "num_workers": 0})
                f1s = [score_saved(run, name, manifest, config, detector in small)["f1"] for run in runs]
                if f1s:
                    scores.setdefault(name, {}).setdefault(detector, {})[arm_dir.name] = mean_std(f1s)
    atomic_write_bytes(out / "scores.json", json.dumps(scores, indent=2).encode())
    return scores


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", help="folder of photos (training / held-out split as `benco synth --split`)")
    parser.add_argument("--out", required=True, help="work folder (pairs, labels, runs); rerun to resume")
    parser.add_argument("--detectors", default="iml_vit,mtcl")
    parser.add_argument("--small", default="iml_vit,mtcl", help="detectors built as their shallow variants (CPU)")
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled one)")
    parser.add_argument("--test", action="append", default=[], metavar="NAME=MANIFEST",
                        help="another test set (repeatable), scored during training like the two regimes")
    parser.add_argument("--score", action="append", default=[], metavar="NAME=MANIFEST",
                        help="only score the saved final checkpoints of OUT on this manifest (repeatable)")
    parser.add_argument("--record", action="store_true",
                        help="also write benchmarks/results/table2_mini.json and the RESULTS.md section")
    ConfigFlags(MiniConfig).add(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import torch

    from downstream.table2 import test_sets
    from imdl_sigma.errors import BadInputError, SigmaError

    args = parse_args(argv)
    config = ConfigFlags(MiniConfig).build(args)
    torch.set_num_threads(config.threads)
    detectors, small = args.detectors.split(","), set(args.small.split(","))
    try:
        if args.score:
            print(json.dumps(score_runs(args.out, detectors, small, test_sets(args.score)), indent=2))
            return
        if not args.photos:
            raise BadInputError("--photos is needed to build the pairs (only --score runs without it)")
        table = run(args.photos, args.out, detectors, config, small, args.checkpoint, test_sets(args.test))
    except SigmaError as err:
        print(f"table2_mini: error: {err}", file=sys.stderr)
        sys.exit(2)
    if args.record:
        record_results(Path(args.out))
    print(json.dumps({d: {arm: row["per_test"] for arm, row in r["arms"].items()} for d, r in table.items()}))


if __name__ == "__main__":
    main()
