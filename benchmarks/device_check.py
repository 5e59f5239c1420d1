"""One GPU device check: annotation pairs/s, grounding images/s, Stage I s/step, peak memory.

    bash benchmarks/device_check.sh              # a lent GPU: full size, writes RESULTS.md
    bash benchmarks/device_check.sh --dry-run    # CPU, tiny configs, < 60 s (tests/test_device_check.py)

Everything is randomly initialised with the real classes (no weights can be had offline):
DINOv2-B (transformers `Dinov2Model`, DINOv2-B's config, saved with `save_pretrained` and
loaded back through `--backbone-weights` as a downloaded one would be) under the `base` SIGMA
config; GroundingDINO-T (transformers' default `GroundingDinoConfig`) and SAM 2.1-S (the sam2
package). Pairs are `benco synth` pairs from the photos bundled with scikit-image, each listed
several times under new ids (each listing is decoded, annotated and written on its own).

Figures: the annotate job's pairs/s (what `benco annotate` runs after loading its models) for a
batch-size sweep with the uniform ε prior, with cached intent maps, and with grounding on the fly,
each with the photometric alignment (in the decode workers) and the boundary refinement (on the
writer's threads) on, as the bundled checkpoint runs them, and the GPU's mean utilisation while it
ran (`nvidia-smi`, sampled every 200 ms); pairs/s of each stage alone
(`imdl_sigma.bench.speed.stage_throughput`); grounding images/s; Stage I s/step with and without
`--cache-features`; the peak GPU memory of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from imdl_sigma.annotation.annotate import AnnotateConfig, AnnotationJob, FilterConfig
from imdl_sigma.annotation.runstate import resumable_keys
from imdl_sigma.bench.speed import stage_throughput
from imdl_sigma.bench.tables import markdown_table
from imdl_sigma.config import DINOV2_BASE, TINY_DINOV2, SigmaConfig
from imdl_sigma.data.images import load_rgb
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.synth.generator import SynthConfig, synthesize
from imdl_sigma.grounding.intent import DEFAULT_MAP_SIZE, IntentCache
from imdl_sigma.inference.annotator import Annotator
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.checkpoint import save_checkpoint

from .feature_cache_speed import seconds_per_step
from .results import RESULTS, record

KEEP_ALL = FilterConfig(min_area=0.0, max_area=1.0, max_aspect_change=100.0)  # every pair is written


@dataclass
class CheckConfig:
    sigma: str  # SIGMA preset whose DINOv2 is replaced by the saved random one
    dinov2: dict  # transformers Dinov2Config fields
    pair_side: int  # short side of the synthetic pairs
    unique_pairs: int  # pairs synthesised
    pairs: int  # pairs annotated per run (the unique ones listed again under new ids)
    batch_sizes: tuple  # the sweep
    stage_pairs: int  # pairs for the per-stage timing
    grounding_pairs: int  # pairs annotated with grounding on the fly (and images grounded)
    tiny_grounding: bool  # toy GroundingDINO / SAM 2.1-T at 256 px instead of GroundingDINO-T / SAM 2.1-S
    train: dict = field(default_factory=dict)  # Stage I: config, size, pairs, batch


FULL = CheckConfig("base", DINOV2_BASE, 512, 256, 2048, (16, 32, 64, 128), 512, 256, False,
                   dict(config_name="base_random", size=518, pairs=64, batch=16))
DRY = CheckConfig("tiny", TINY_DINOV2, 64, 4, 16, (4, 8), 8, 4, True,
                  dict(config_name="tiny", size=56, pairs=4, batch=2))
MAX_BOXES = 3  # boxes kept per grounded image: a random detector passes any threshold, a trained one finds a few


def write_checkpoint(work: Path, check: CheckConfig) -> tuple[Path, Path]:
    """A random DINOv2 saved as a downloaded one, and a SIGMA checkpoint (random head) over it."""
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    backbone_dir = work / "dinov2"
    Dinov2Model(Dinov2Config(**check.dinov2)).save_pretrained(backbone_dir)
    config = SigmaConfig.preset(check.sigma).with_overrides({"align.enabled": True, "refine.enabled": True})
    config.backbone = replace(config.backbone, kind="dinov2", pretrained=True, name_or_path=str(backbone_dir), arch={})
    checkpoint = work / "sigma_random.pt"
    save_checkpoint(checkpoint, SigmaNet(config), config, stage=0)
    return checkpoint, backbone_dir


def make_pairs(work: Path, check: CheckConfig) -> list:
    manifest = synthesize(work / "synth", check.unique_pairs, config=SynthConfig(size=check.pair_side),
                          workers=max(1, (os.cpu_count() or 2) - 1), progress=False)
    unique = read_manifest(manifest)
    return [replace(unique[i % len(unique)], id=f"{unique[i % len(unique)].id}-{i}") for i in range(check.pairs)]


class TopBoxes:
    """GroundingDINO's processor keeping each image's `k` best boxes (random weights pass any threshold)."""

    def __init__(self, processor, k: int) -> None:
        self.processor, self.k = processor, k

    def __call__(self, *args, **kwargs):
        return self.processor(*args, **kwargs)

    def post_process_grounded_object_detection(self, *args, **kwargs):
        results = self.processor.post_process_grounded_object_detection(*args, **kwargs)
        for result in results:
            best = result["scores"].argsort(descending=True)[:self.k]
            result["boxes"], result["scores"] = result["boxes"][best], result["scores"][best]
        return results


def random_grounder(work: Path, tiny: bool, device: torch.device):
    """LangSAMGrounder over a random GroundingDINO (saved and loaded like a downloaded one) and SAM 2.1."""
    from transformers import (AutoProcessor, BertTokenizerFast, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor)

    from imdl_sigma.grounding.grounder import (TINY_DETECTOR_IMAGE_SIZE, GroundingConfig, LangSAMGrounder,
                                               build_sam_predictor, tiny_grounding_dino_config)

    words = {w for p in read_manifest(work / "synth" / "pairs.jsonl") for w in p.instruction.lower().split()}
    words |= {"object"}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", *sorted(words)]
    folder = work / "grounding_dino"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab))
    torch.manual_seed(0)
    if tiny:
        image_processor = GroundingDinoImageProcessor(size=TINY_DETECTOR_IMAGE_SIZE)
        config = tiny_grounding_dino_config(len(vocab))
        sam_config, sam_side = "configs/sam2.1/sam2.1_hiera_t.yaml", 256
    else:  # GroundingDINO-T (Swin-T, BERT-base) at 800 px; SAM 2.1-S at 1024 px
        image_processor, config = GroundingDinoImageProcessor(), GroundingDinoConfig()
        sam_config, sam_side = "configs/sam2.1/sam2.1_hiera_s.yaml", 1024
    GroundingDinoForObjectDetection(config).save_pretrained(folder / "model")
    GroundingDinoProcessor(image_processor, BertTokenizerFast(str(folder / "vocab.txt"))).save_pretrained(folder / "model")
    detector = GroundingDinoForObjectDetection.from_pretrained(folder / "model", local_files_only=True).to(device)
    processor = TopBoxes(AutoProcessor.from_pretrained(folder / "model", local_files_only=True), MAX_BOXES)
    sam = build_sam_predictor(sam_config, None, str(device), sam_side)
    grounding = GroundingConfig(detector=str(folder / "model"), sam_config=sam_config, sam_image_size=sam_side,
                                box_threshold=0.0, text_threshold=0.0, batch_size=16)
    name = "toy GroundingDINO + SAM 2.1-T (256 px)" if tiny else "GroundingDINO-T (800 px) + SAM 2.1-S (1024 px)"
    return LangSAMGrounder(detector, processor, sam, grounding), name


class GpuMemory:
    """Peak GPU memory of a block, in GiB (None on CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.peak_gib: float | None = None

    def __enter__(self) -> "GpuMemory":
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *_) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_gib = round(torch.cuda.max_memory_allocated() / 2**30, 2)


class GpuBusy:
    """Mean GPU utilisation (%) over a block, from `nvidia-smi` sampling every 200 ms (None on
    CPU or without nvidia-smi)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.samples: list[float] = []
        self.percent: float | None = None

    def __enter__(self) -> "GpuBusy":
        if self.cuda:
            try:
                self.smi = subprocess.Popen(["nvidia-smi", f"--id={torch.cuda.current_device()}",
                                             "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                             "-lms", "200"],
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self.cuda = False
                return self
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.smi.stdout:
            if line.strip().isdigit():
                self.samples.append(float(line))

    def __exit__(self, *_) -> None:
        if self.cuda:
            self.smi.terminate()
            self.smi.wait()
            self.reader.join()
            self.percent = round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def annotate_rate(annotator: Annotator, pairs: list, out: Path, batch: int, intent_cache=None) -> dict:
    """pairs/s of the annotate job over `pairs` (a fresh output folder), its peak GPU memory and
    the GPU's mean utilisation."""
    job = AnnotationJob(annotator, out, AnnotateConfig(batch_size=batch, filters=KEEP_ALL), intent_cache=intent_cache)
    with GpuMemory(annotator.device) as memory, GpuBusy(annotator.device) as busy:
        timing = job.run(pairs, resumable_keys(out, resume=False), progress=False)
    if timing["annotated"] != len(pairs):
        raise RuntimeError(f"{out}: annotated {timing['annotated']} of {len(pairs)} pairs")
    steady = timing["steady_pairs_per_s"]
    return {"pairs_per_s": round(timing["annotated"] / timing["seconds"], 1),
            "steady_pairs_per_s": round(steady, 1) if steady else None, "peak_gpu_GiB": memory.peak_gib,
            "gpu_busy_percent": busy.percent}


def concept_of(instruction: str) -> str:
    from imdl_sigma.grounding.rules import parse_rules

    parsed = parse_rules(instruction)
    return parsed["original"] or parsed["edited"] or "object"


def grounding_rate(grounder, pairs: list) -> dict:
    images = [load_rgb(p.edited) for p in pairs]
    prompts = [concept_of(p.instruction) for p in pairs]
    grounder.ground(images[:grounder.config.batch_size], prompts[:grounder.config.batch_size])  # warm-up
    sync = torch.cuda.synchronize if grounder.detector.device.type == "cuda" else lambda: None
    with GpuMemory(grounder.detector.device) as memory:
        started = time.perf_counter()
        grounder.ground(images, prompts)
        sync()
        seconds = time.perf_counter() - started
    return {"images_per_s": round(len(images) / seconds, 1), "peak_gpu_GiB": memory.peak_gib}


def run_check(check: CheckConfig, work: Path, device: torch.device) -> dict:
    started = time.perf_counter()
    checkpoint, backbone_dir = write_checkpoint(work, check)
    pairs = make_pairs(work, check)
    annotator = Annotator.from_checkpoint(checkpoint, device=str(device), backbone_weights=str(backbone_dir))
    annotate_rate(annotator, pairs[:2 * check.batch_sizes[0]], work / "warmup", check.batch_sizes[0])
    sweep = {batch: annotate_rate(annotator, pairs, work / f"prior_b{batch}", batch) for batch in check.batch_sizes}
    best = max(sweep, key=lambda b: sweep[b]["steady_pairs_per_s"] or sweep[b]["pairs_per_s"])
    cache = IntentCache(work / "intent")
    rng = np.random.default_rng(0)
    for pair in pairs:
        cache.save(pair, rng.random((DEFAULT_MAP_SIZE, DEFAULT_MAP_SIZE), dtype=np.float32))
    cached = annotate_rate(annotator, pairs, work / "cached", best, intent_cache=cache)
    with GpuMemory(device) as memory:
        stages = stage_throughput(pairs[:check.stage_pairs], annotator, best, Path(tempfile.mkdtemp(dir=work)))
    grounder, grounder_name = random_grounder(work, check.tiny_grounding, device)
    grounding = grounding_rate(grounder, pairs[:check.grounding_pairs])
    grounded = Annotator.from_checkpoint(checkpoint, device=str(device), backbone_weights=str(backbone_dir),
                                         grounder=grounder)
    on_the_fly = annotate_rate(grounded, pairs[:check.grounding_pairs], work / "grounded", best)
    with GpuMemory(device) as train_memory:
        stage1 = seconds_per_step(work=work / "stage1", **check.train)
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "network": f"{check.sigma} SIGMA over a random DINOv2 ({check.dinov2['hidden_size']} wide, "
                   f"{check.dinov2['num_hidden_layers']} blocks) at {annotator.config.input_size} px, "
                   + ("bf16 autocast" if annotator.autocast else "float32")
                   + ", photometric alignment and boundary refinement on",
        "pairs": f"{len(pairs)} pairs ({check.unique_pairs} synthetic pairs listed again), short side {check.pair_side} px",
        "decode_workers": "auto", "sweep": sweep, "best_batch": best, "cached_intent": cached,
        "stages": stages, "stages_peak_gpu_GiB": memory.peak_gib, "grounder": grounder_name,
        "grounding": grounding, "grounded_annotate": on_the_fly, "stage1": stage1,
        "stage1_peak_gpu_GiB": train_memory.peak_gib, "train": check.train,
        "seconds": round(time.perf_counter() - started, 1),
    }


def gib(value: float | None) -> str:
    return "–" if value is None else f"{value} GiB"


def report(result: dict) -> str:
    def cells(run: dict) -> list[str]:
        busy = run["gpu_busy_percent"]
        return [f"{run['pairs_per_s']:,}", f"{run['steady_pairs_per_s']:,}" if run["steady_pairs_per_s"] else "–",
                gib(run["peak_gpu_GiB"]), "–" if busy is None else f"{busy} %"]

    sweep = [[str(b), *cells(r)] for b, r in result["sweep"].items()]
    best = result["best_batch"]
    runs = [["ε prior (no grounding), batch " + str(best), *cells(result["sweep"][best])],
            ["cached intent maps (`--intent-cache`)", *cells(result["cached_intent"])],
            ["grounding on the fly", *cells(result["grounded_annotate"])]]
    rate_header = ["pairs/s (whole job)", "pairs/s after the first batch", "peak GPU memory", "GPU busy"]
    stages = [[stage, f"{rate:,}"] for stage, rate in result["stages"].items()]
    stage1, train = result["stage1"], result["train"]
    return (
        f"{result['device']}; {result['network']}; {result['pairs']}; decode workers {result['decode_workers']}. "
        f"The whole check took {result['seconds']} s.\n\n"
        "Annotate job pairs/s by batch size (uniform ε prior):\n\n"
        + markdown_table(["batch", *rate_header], sweep)
        + "\nEnd to end at the best batch:\n\n" + markdown_table(["run", *rate_header], runs)
        + f"\nEach stage alone (pairs/s, batch {best}; peak GPU {gib(result['stages_peak_gpu_GiB'])}):\n\n"
        + markdown_table(["stage", "pairs/s"], stages)
        + f"\nGrounding ({result['grounder']}, random weights, {MAX_BOXES} boxes per image): "
        f"**{result['grounding']['images_per_s']:,} images/s** (peak GPU {gib(result['grounding']['peak_gpu_GiB'])}).\n\n"
        f"Stage I ({train['config_name']} at {train['size']} px, batch {train['batch']}, second epoch): "
        f"{stage1['no cache']} s/step with the backbone every step, {stage1['cache']} s/step with "
        f"`--cache-features` (peak GPU {gib(result['stage1_peak_gpu_GiB'])}).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny configs (under a minute)")
    parser.add_argument("--results", help="markdown file to write (default: benchmarks/RESULTS.md; a dry run's: "
                                          "WORK/RESULTS.md)")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="device_check"))
    work.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    if not args.dry_run and device.type != "cuda":
        raise SystemExit("device_check: no CUDA device here; use --dry-run for the CPU check")
    result = run_check(DRY if args.dry_run else FULL, work, device)
    print(json.dumps(result, indent=2))
    text = report(result)
    print(text)
    results = Path(args.results) if args.results else (work / "RESULTS.md" if args.dry_run else RESULTS)
    name = "device_check_dry_run" if args.dry_run else "device_check"
    record(name, "Device check (`benchmarks/device_check.sh`)" + (" — dry run, CPU, tiny configs" if args.dry_run else ""),
           text, command="bash benchmarks/device_check.sh" + (" --dry-run" if args.dry_run else ""), path=results)
    (work / "device_check.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
