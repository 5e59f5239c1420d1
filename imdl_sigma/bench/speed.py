"""`benco bench speed`: pairs/s per annotation stage and end to end, and peak memory.

Stages, timed separately on the same pairs: decode (read + resize source to edited), parse
(rules, or the LLM), backbone (source and edited in one batch), head (everything after the
backbone), write (threshold, resize to the edited size, PNG). End to end is `benco annotate`'s
own loop on the same manifest (grounding included when weights are given).

With `--grounding-weights DIR --sam-weights FILE`, the grounding stages too, in s/pair:
detect (GroundingDINO), segment (SAM 2.1), fuse (concept maps + ACSF), each with how far it
raised the process's peak resident set; `--batch-size` is also the images per grounding call.

    benco bench speed --pairs PAIRS.jsonl [--checkpoint CKPT] [--batch-size 8]
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..annotation.annotate import AnnotateConfig, annotate
from ..data.images import save_mask
from ..data.manifest import read_manifest, write_manifest
from ..data.tensors import resize_map, resize_square
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
def stage_throughput(pairs, annotator: Annotator, batch_size: int, out: Path) -> dict:
    """Each stage alone on one thread of work, as `benco annotate` runs it (decode as its workers
    do, the network under the annotator's autocast, write as its writer thread does)."""
    watch = Stopwatch(torch.cuda.synchronize if annotator.device.type == "cuda" else lambda: None)
    net, side = annotator.net, annotator.config.input_size
    autocast = torch.autocast(annotator.device.type, dtype=torch.bfloat16, enabled=annotator.autocast)
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]

        def decode():
            sources, editeds = map(list, zip(*(p.load_images() for p in batch)))
            return torch.from_numpy(resize_square(sources, side)), torch.from_numpy(resize_square(editeds, side)), editeds

        source_px, edited_px, editeds = watch.time("decode", decode)
        watch.time("parse", parse_many, [p.instruction for p in batch])
        with autocast:
            source_in, edited_in = annotator.normalise(source_px), annotator.normalise(edited_px)
            feats = watch.time("backbone", net.encode, source_in, edited_in)
            output = watch.time("head", lambda: net.forward_features(
                feats[0], feats[1], None, (side, side), net.evidence(source_in, edited_in)))

        def write():
            probs = torch.sigmoid(output.logits.float())[:, 0].cpu().numpy()  # one copy per batch
            for pair, prob, edited in zip(batch, probs, editeds):
                save_mask(out / f"{pair.id}.png", resize_map(prob, edited.shape[:2]) > annotator.config.mask_threshold)

        watch.time("write", write)
    return {stage: round(len(pairs) / seconds, 2) for stage, seconds in watch.seconds.items()}


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
              grounding=None) -> dict:
    """`grounding`: a GroundingConfig to time the grounding stages and ground end to end."""
    pairs = read_manifest(pairs_path)[:limit]
    annotator = Annotator.from_checkpoint(checkpoint)
    report = {}
    if grounding is not None:
        from ..grounding.grounder import LangSAMGrounder

        grounding = replace(grounding, batch_size=batch_size)  # images per grounding call
        report["grounding"] = grounding_stages(pairs, LangSAMGrounder.load(grounding), annotator.config.instruction.epsilon,
                                               batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        stages = stage_throughput(pairs, annotator, batch_size, Path(tmp))
        manifest = Path(tmp) / "subset.jsonl"
        write_manifest(manifest, pairs)
        started = time.perf_counter()
        annotate([str(manifest)], str(Path(tmp) / "out"), checkpoint=checkpoint,
                 config=AnnotateConfig(batch_size=batch_size), grounding=grounding, progress=False)
        end_to_end = (time.perf_counter() - started) / len(pairs)  # s/pair
    return {
        "pairs": len(pairs), "batch_size": batch_size, "checkpoint": annotator.checkpoint,
        "config": annotator.config.name, "input": annotator.config.backbone.image_size,
        "threads": torch.get_num_threads(), "pairs_per_s_per_stage": stages, **report,
        "pairs_per_s_end_to_end": round(1 / end_to_end, 4), "s_per_pair_end_to_end": round(end_to_end, 2),
        "peak_rss_MiB": round(peak_rss_mib(), 1),
    }
