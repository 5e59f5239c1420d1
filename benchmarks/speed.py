"""`benco bench speed`: pairs/s per annotation stage and end to end, and peak memory.

Stages, timed separately on the same pairs: decode (read + resize source to edited), parse
(rules, or the LLM), backbone (source and edited in one batch), head (everything after the
backbone), write (threshold, resize to the edited size, PNG). End to end is `benco annotate`'s
own loop on the same manifest.

    python -m benchmarks.speed --pairs PAIRS.jsonl [--checkpoint CKPT] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from imdl_sigma.annotation.annotate import AnnotateConfig, annotate
from imdl_sigma.annotation.annotator import Annotator, resize_map, resize_square
from imdl_sigma.data.datasets import match_size
from imdl_sigma.data.images import load_rgb, save_mask
from imdl_sigma.data.manifest import read_manifest, write_manifest
from imdl_sigma.grounding.cache import parse_many


class Stopwatch:
    """Seconds per stage; `sync` (a CUDA synchronise on a GPU) closes each timed call."""

    def __init__(self, sync=lambda: None) -> None:
        self.seconds: dict[str, float] = {}
        self.sync = sync

    def time(self, stage: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.sync()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started
        return result


@torch.no_grad()
def stage_throughput(pairs, annotator: Annotator, batch_size: int, out: Path) -> dict:
    """Each stage alone on one thread of work, as `benco annotate` runs it (decode as its workers
    do, the network under the annotator's autocast, write as its writer thread does)."""
    watch = Stopwatch(torch.cuda.synchronize if annotator.device.type == "cuda" else lambda: None)
    net, side = annotator.model, annotator.config.input_size
    autocast = torch.autocast(annotator.device.type, dtype=torch.bfloat16, enabled=annotator.autocast)
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]

        def decode():
            editeds = [load_rgb(p.edited) for p in batch]
            sources = [match_size(load_rgb(p.source), e, p.id) for p, e in zip(batch, editeds)]
            return torch.from_numpy(resize_square(sources, side)), torch.from_numpy(resize_square(editeds, side)), editeds

        source_px, edited_px, editeds = watch.time("decode", decode)
        watch.time("parse", parse_many, [p.instruction for p in batch], "rules")
        with autocast:
            feats = watch.time("backbone", lambda: net.encode(annotator.normalise(source_px), annotator.normalise(edited_px)))
            output = watch.time("head", net.forward_features, feats[0], feats[1], None, (side, side))

        def write():
            probs = torch.sigmoid(output.logits.float())[:, 0].cpu().numpy()  # one copy per batch
            for pair, prob, edited in zip(batch, probs, editeds):
                save_mask(out / f"{pair.id}.png", resize_map(prob, edited.shape[:2]) > annotator.config.mask_threshold)

        watch.time("write", write)
    return {stage: round(len(pairs) / seconds, 2) for stage, seconds in watch.seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--checkpoint")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=96, help="pairs to use")
    args = parser.parse_args()
    print(json.dumps(run(args.pairs, args.checkpoint, args.batch_size, args.limit), indent=2))


def run(pairs_path: str, checkpoint: str | None, batch_size: int, limit: int) -> dict:
    pairs = read_manifest(pairs_path)[:limit]
    annotator = Annotator.from_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        stages = stage_throughput(pairs, annotator, batch_size, Path(tmp))
        manifest = Path(tmp) / "subset.jsonl"
        write_manifest(manifest, pairs)
        started = time.perf_counter()
        annotate([str(manifest)], str(Path(tmp) / "out"), checkpoint=checkpoint,
                 config=AnnotateConfig(batch_size=batch_size), progress=False)
        end_to_end = len(pairs) / (time.perf_counter() - started)
    return {
        "pairs": len(pairs), "batch_size": batch_size, "checkpoint": annotator.checkpoint,
        "config": annotator.config.name, "input": annotator.config.backbone.image_size,
        "threads": torch.get_num_threads(), "pairs_per_s_per_stage": stages,
        "pairs_per_s_end_to_end": round(end_to_end, 2),
        "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    main()
