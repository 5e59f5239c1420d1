"""`benco bench speed`: pairs/s per annotation stage and end to end, and peak memory.

Stages, timed separately on the same pairs, as `benco annotate` runs them: decode (read, match
the source to the edited size, resize both to the network's input), alignment (the source fitted
to the edited image, `config.align`), parse (rules, or the LLM), backbone (source and edited in
one batch), head (everything after the backbone), refinement (the pixel difference, the
boundary snap, `config.refine`, and the mask's quality score), filters (the quality flags) and write (resize to the edited
size, threshold, PNG). End to end is `benco annotate`'s own loop on the same manifest (grounding
included when weights are given), after its models are loaded. Without decode workers the
stages' s/pair add up to the end-to-end s/pair (up to the machine's drift between the two runs,
and the grounding stages, which are reported apart); with `--workers N` decoding and alignment
run beside the network, and `overlap_s_per_pair` is the stage time the pipeline hid.

With `--grounding-weights DIR --sam-weights FILE`, the grounding stages too, in s/pair:
detect (GroundingDINO), segment (SAM 2.1), fuse (concept maps + ACSF), each with how far it
raised the process's peak resident set; `--batch-size` is also the images per grounding call.

    benco bench speed --pairs PAIRS.jsonl [--checkpoint CKPT] [--batch-size 8] [--workers N]
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..annotation.annotate import AnnotateConfig, FilterConfig, annotate, quality_flags
from ..annotation.pipeline import decode_workers
from ..data.images import save_mask
from ..data.manifest import read_manifest, write_manifest
from ..data.tensors import resize_map, resize_square
from ..errors import BadInputError
from ..grounding.cache import parse_many
from ..inference.annotator import Annotator


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    """Seconds per stage; `sync` (a CUDA synchronise on a GPU) closes each timed call."""

    def __init__(self, sync=lambda: None) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rise: dict[str, float] = {}  # MiB the stage added to the process's peak RSS
        self.sync = sync

    def time(self, stage: str, fn, *args):
        started, peak = time.perf_counter(), peak_rss_mib()
        result = fn(*args)
        self.sync()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
        self.peak_rise[stage] = self.peak_rise.get(stage, 0.0) + peak_rss_mib() - peak
        return result

    def timed(self, stage: str, fn):
        """`fn`, timed under `stage` whenever it is called (by code that is not the benchmark's)."""
        return lambda *args: self.time(stage, fn, *args)


@torch.no_grad()
def stage_seconds(pairs, annotator: Annotator, batch_size: int, out: Path) -> dict[str, float]:
    """Seconds of each stage alone over `pairs`, on one thread of work (decode and alignment as
    the decode workers do them, the network under the annotator's autocast, refinement, filters
    and write as the writer does)."""
    watch = Stopwatch(torch.cuda.synchronize if annotator.device.type == "cuda" else lambda: None)
    net, config, side = annotator.net, annotator.config, annotator.config.input_size
    autocast = torch.autocast(annotator.device.type, dtype=torch.bfloat16, enabled=annotator.autocast)
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        sources, editeds = map(list, zip(*watch.time("decode", lambda: [p.load_images() for p in batch])))
        aligned = watch.time("alignment", annotator.aligned, sources, editeds)
        edited_px = watch.time("decode", lambda: torch.from_numpy(resize_square(editeds, side)))
        source_px = watch.time("decode", lambda: torch.from_numpy(resize_square(aligned, side)))
        watch.time("parse", parse_many, [p.instruction for p in batch])
        with autocast:
            source_in, edited_in = annotator.normalise(source_px), annotator.normalise(edited_px)
            feats = watch.time("backbone", net.encode, source_in, edited_in)
            output = watch.time("head", lambda: net.forward_features(
                feats[0], feats[1], None, (side, side), net.evidence(source_in, edited_in)))
        probs = watch.time("write", lambda: torch.sigmoid(output.logits.float())[:, 0].cpu().numpy())  # one copy
        for pair, prob, source, edited in zip(batch, probs, sources, editeds):
            prob = watch.time("write", resize_map, prob, edited.shape[:2])
            prob, quality = watch.time("refinement", lambda: annotator.refine_scored(  # and the quality score
                prob, annotator.differences([source], [edited])[0]))
            mask = prob > config.mask_threshold
            watch.time("filters", quality_flags, source.shape, edited.shape, mask, quality, FilterConfig())
            watch.time("write", save_mask, out / f"{pair.id}.png", mask)
    return watch.seconds


def pairs_per_second(seconds: dict[str, float], pairs: int) -> dict[str, float]:
    return {stage: round(pairs / spent, 2) for stage, spent in seconds.items()}


def stage_throughput(pairs, annotator: Annotator, batch_size: int, out: Path) -> dict[str, float]:
    """pairs/s of each stage alone (`stage_seconds`)."""
    return pairs_per_second(stage_seconds(pairs, annotator, batch_size, out), len(pairs))


def grounding_stages(pairs, grounder, epsilon: float, batch_size: int) -> dict:
    """s/pair of the grounding stages through the production path (`intent_maps`), the boxes
    that reached SAM per grounded image, and each stage's rise of the peak RSS (MiB)."""
    from ..grounding.intent import intent_maps

    watch = Stopwatch()
    detect, segment = grounder.detect, grounder.segment
    boxes_per_image = []

    def counted_segment(images, boxes):
        boxes_per_image.extend(len(b) for b in boxes)
        return segment(images, boxes)

    grounder.detect, grounder.segment = watch.timed("detect", detect), watch.timed("segment", counted_segment)
    try:
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size]
            sources, editeds = map(list, zip(*(p.load_images() for p in batch)))
            parses = watch.time("parse", parse_many, [p.instruction for p in batch])
            watch.time("ground", intent_maps, grounder, parses, sources, editeds, epsilon)
    finally:
        del grounder.detect, grounder.segment  # the instance's own methods again
    seconds = dict(watch.seconds)
    seconds["fuse"] = seconds.pop("ground") - seconds["detect"] - seconds["segment"]  # concept maps + ACSF
    rise = dict(watch.peak_rise)
    rise["fuse"] = rise.pop("ground") - rise["detect"] - rise["segment"]
    return {"s_per_pair_per_stage": {k: round(v / len(pairs), 3) for k, v in seconds.items()},
            "s_per_pair": round(sum(seconds.values()) / len(pairs), 3),
            "images_grounded": len(boxes_per_image), "boxes_to_sam_per_image_max": max(boxes_per_image, default=0),
            "peak_rss_rise_MiB_per_stage": {k: round(v, 1) for k, v in rise.items()},
            "config": {k: getattr(grounder.config, k) for k in ("max_boxes", "sam_box_chunk", "batch_size")}}


def run_speed(pairs_path: str, checkpoint: str | None = None, batch_size: int = 8, limit: int = 96,
              workers: int | None = None, grounding=None) -> dict:
    """`grounding`: a GroundingConfig to time the grounding stages and ground end to end;
    `workers`: decode worker processes of the end-to-end run (default: `benco annotate`'s)."""
    pairs = read_manifest(pairs_path)[:limit]
    annotator = Annotator.from_checkpoint(checkpoint)
    report = {}
    if grounding is not None:
        from ..grounding.grounder import LangSAMGrounder

        grounding = replace(grounding, batch_size=batch_size)  # images per grounding call
        report["grounding"] = grounding_stages(pairs, LangSAMGrounder.load(grounding), annotator.config.instruction.epsilon,
                                               batch_size)
    config = AnnotateConfig(batch_size=batch_size, workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        seconds = stage_seconds(pairs, annotator, batch_size, Path(tmp))
        manifest = Path(tmp) / "subset.jsonl"
        write_manifest(manifest, pairs)
        stats = annotate([str(manifest)], str(Path(tmp) / "out"), checkpoint=checkpoint, config=config,
                         grounding=grounding, progress=False)
    if not stats["pairs_per_second"]:
        raise BadInputError(f"{pairs_path}: no pair could be annotated (see the errors above)")
    end_to_end = 1 / stats["pairs_per_second"]  # s/pair of the annotate loop
    stage_sum = sum(seconds.values()) / len(pairs)
    return {
        "pairs": len(pairs), "batch_size": batch_size, "checkpoint": annotator.checkpoint,
        "config": annotator.config.name, "input": annotator.config.backbone.image_size,
        "alignment": annotator.config.align.enabled, "refinement": annotator.config.refine.enabled,
        "threads": torch.get_num_threads(), "decode_workers": decode_workers(workers, annotator.device),
        "pairs_per_s_per_stage": pairs_per_second(seconds, len(pairs)),
        "s_per_pair_per_stage": {stage: round(s / len(pairs), 4) for stage, s in seconds.items()},
        "s_per_pair_stage_sum": round(stage_sum, 4), **report,
        "pairs_per_s_end_to_end": round(1 / end_to_end, 4), "s_per_pair_end_to_end": round(end_to_end, 4),
        "stage_sum_over_end_to_end": round(stage_sum / end_to_end, 3),
        "overlap_s_per_pair": round(stage_sum - end_to_end, 4),
        "peak_rss_MiB": round(peak_rss_mib(), 1),
    }
