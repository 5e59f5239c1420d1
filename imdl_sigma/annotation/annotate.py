"""`benco annotate`: masks for every pair of one or more manifests or corpora, as an IMDL-BenCo dataset.

Work is batched by stage (parse the batch's instructions, then one SIGMA forward for the batch,
source and edited images through the backbone together; another --method's masks come from its
Predictor, on the pairs whole), with decoding and writing overlapped with the network
(`pipeline.py`: DataLoader workers, a writer thread). Each finished batch first writes its masks
(atomically), then appends one record per pair to `records/rank{R}.jsonl`; `--resume` skips every
pair that has a record (`runstate.py`), so a killed run redoes at most the batches in flight and
every pair ends up exactly once. The final merge (`outputs.py`) writes `dataset.json`,
`manifest.jsonl`, `stats.json` and `errors.jsonl`. Under `torchrun`, rank R takes pairs R, R+W,
R+2W, ... and rank 0 merges.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator, Literal

import numpy as np
import torch

from ..baselines.pixdiff import PixDiffConfig
from ..data.atomic import atomic_write_bytes
from ..data.images import MAX_PIXELS, save_mask
from ..data.jsonl import AppendLog, at_path
from ..data.manifest import Pair
from ..data.pairs import ManifestPairs, corpus_key, file_stem, pair_key
from ..data.tensors import resize_map
from ..errors import BadInputError, JobInterrupted
from ..grounding.acsf import with_corpus_actions
from ..grounding.cache import ParseCache, parse_many
from ..grounding.intent import CACHED, UNIFORM, resolve_intent_maps
from ..grounding.parser import build_parser
from ..inference.annotator import Annotator
from ..interrupt import stop_on_signal
from ..methods import load_predictor
from .pipeline import DecodedBatch, OutputWriter, PairDecoder, PendingBatch, decode_workers, decoded_batches
from .outputs import merge
from .runstate import SETTINGS, OutLock, check_same_method, fed_inputs, finished_keys, resumable_keys

log = logging.getLogger(__name__)

@dataclass
class FilterConfig:
    min_area: float = 0.0005  # masks covering less of the image are "empty"
    max_area: float = 0.95  # masks covering more are "near_full"
    max_aspect_change: float = 1.25  # source vs edited aspect ratios may differ by at most this factor
    min_quality: float = 0.0  # masks whose quality score (estimated IoU with the true edit) is lower are "low_quality"
    action: Literal["drop", "flag"] = "drop"  # drop the pair, or flag it in the manifest and keep it


@dataclass
class AnnotateConfig:
    batch_size: int = 8
    parser: str = "rules"  # backend of grounding.parser.build_parser: "rules" or "llm"
    with_authentic: bool = False  # also list source images as "Negative" samples
    mani: bool = False  # also write an IMDL-BenCo ManiDataset (Tp/, Gt/) under DIR/mani
    filters: FilterConfig = field(default_factory=FilterConfig)
    workers: int | None = None  # decode worker processes; None: half the cores (≤ 8) beside a GPU, 0 on CPU
    write_threads: int = 4  # threads resizing, thresholding and encoding masks behind the network
    precision: Literal["bf16", "fp32"] = "bf16"  # bf16: bfloat16 autocast on CUDA (CPU runs float32)
    max_image_pixels: int = MAX_PIXELS  # width × height of the largest image read; a larger one is that pair's error
    method: str = "sigma"  # mask generator: sigma, pixdiff-fixed@TAU, pixdiff-morph, pixdiff-otsu, ddpm-cd, meta-cd
    pixdiff_tau: float = PixDiffConfig.mask_threshold  # pixdiff-morph's τ (unlabelled pairs: no truth to pick it)


def quality_flags(source_shape: tuple, edited_shape: tuple, mask: np.ndarray, quality: float | None,
                  config: FilterConfig) -> list[str]:
    flags = ["low_quality"] if quality is not None and quality < config.min_quality else []  # None: no score
    area = float(mask.mean())
    if area < config.min_area:
        flags.append("empty")
    if area > config.max_area:
        flags.append("near_full")
    source_aspect = source_shape[1] / source_shape[0]
    edited_aspect = edited_shape[1] / edited_shape[0]
    if max(source_aspect, edited_aspect) / min(source_aspect, edited_aspect) > config.max_aspect_change:
        flags.append("size_mismatch")
    return flags


@dataclass
class Unreadable:
    """A streamed pair that could not be read; the job logs it to its errors file."""

    key: str
    error: str


def corpus_pairs(corpora: dict[str, str], out: Path, rank: int, world: int,
                 done: set[str]) -> Iterator[Pair | Unreadable]:
    """Pairs streamed from corpora as published ({name: root}); this rank's part only.

    Images held as bytes are written once under OUT/inputs/<corpus>/ (the dataset must point at
    the edited image); a pair already annotated is skipped before anything is decoded.
    """
    from ..data.corpora import open_corpus
    from ..data.corpora.export import materialize

    for name, root in corpora.items():
        for sample in open_corpus(name, root, part=(rank, world)):
            key = corpus_key(sample.corpus, sample.id)
            if key in done:
                continue
            try:
                yield materialize(sample, out / "inputs" / name)
            except BadInputError as err:
                yield Unreadable(key, str(err))


class AnnotationJob:
    """One rank's annotation of its pairs into `out_dir` by `annotator`: SIGMA's Annotator, or any
    other Predictor (`imdl_sigma.methods`), which reads the pairs whole and no instruction.
    Instructions are parsed (for the records) by `parser`, by default the annotator's own."""

    def __init__(self, annotator, out_dir: str | Path, config: AnnotateConfig,
                 rank: int = 0, world: int = 1, intent_cache=None, parser=None) -> None:
        self.annotator, self.config = annotator, config
        self.network = isinstance(annotator, Annotator)  # SIGMA: square inputs, intent maps, refinement
        self.parser = parser or annotator.parser
        self.intent_cache = intent_cache
        self.out = Path(out_dir)
        self.rank, self.world = rank, world
        self.masks_dir = self.out / "masks"
        self.records_dir = self.out / "records"
        self.parse_cache = ParseCache(self.out / "cache" / f"parses_rank{rank}.jsonl")
        self.looked_up = self.cache_misses = 0  # pairs looked up in / missing from the intent cache

    def run(self, pairs: Iterable[Pair | Unreadable], done: set[str], progress: bool = True,
            total: int | None = None) -> dict:
        """Annotate this rank's `pairs` (an iterable: corpora are streamed), skipping the `done` keys.

        Ctrl-C / SIGTERM: no new batch is started, the batches in flight are written and the run
        stops with `interrupted` set. A second signal drops the batch being computed (batches the
        writer already holds are still written), or, arriving during a record write or while the
        job waits for the writer, the batches queued behind it. A batch's records are written in
        one go (a signal is held until they are on disk), so it is all in `records/` or not at all."""
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"annotate[{self.rank}]", unit="pair", disable=not progress)
        started = time.time()
        counts = {"annotated": 0, "failed": 0, "skipped": 0}  # failed: unreadable pairs

        def written(count: int) -> None:  # on the writer thread, once a batch's records are on disk
            counts["annotated"] += count
            bar.update(count)
            bar.set_postfix(pairs_per_s=f"{counts['annotated'] / max(1e-9, time.time() - started):.2f}")

        self.records_dir.mkdir(parents=True, exist_ok=True)
        with AppendLog(self.records_dir / f"rank{self.rank}.jsonl") as records, \
                AppendLog(self.out / f"errors_rank{self.rank}.jsonl") as errors, \
                stop_on_signal("batch") as stop, closing(bar):  # an error's line starts below the bar
            writer = OutputWriter(self.finish_pair, records, errors, self.config.write_threads,
                                  on_written=written, critical=stop.critical)

            def failed(key: str, message: str) -> None:
                writer.error(key, message)
                counts["failed"] += 1
                bar.update()

            def batches() -> Iterator[list[Pair]]:
                batch = []
                for pair in pairs:
                    if isinstance(pair, Unreadable):
                        failed(pair.key, pair.error)
                    elif pair_key(pair) in done:
                        counts["skipped"] += 1
                        bar.update()
                    else:
                        batch.append(pair)
                    if len(batch) == self.config.batch_size:
                        yield batch
                        batch = []
                if batch:
                    yield batch

            device = torch.device(self.annotator.device)
            decoder = self.decoder()
            workers = decode_workers(self.config.workers, device)
            try:
                for decoded in decoded_batches(batches(), decoder, workers, pin_memory=device.type == "cuda"):
                    for key, message in decoded.errors:
                        failed(key, message)
                    pending = self.annotate_batch(decoded)
                    if pending is not None:
                        writer.submit(pending)
                    if stop.requested:  # a first signal: no new batch; those in flight are written
                        break
            except KeyboardInterrupt:  # a second signal: the batch being computed is dropped
                stop.requested = True
            except BaseException:
                writer.close_draining(reraise=False)  # the exception on its way wins
                raise
            writer.close_draining()
        if self.cache_misses:
            fallback = "grounded now" if self.annotator.grounder is not None else "uniform ε prior (grounding: none)"
            log.warning("%d of %d pairs have no map in the intent cache %s: %s", self.cache_misses,
                        self.looked_up, self.intent_cache.root, fallback)
        log.info("rank %d: annotated %d pairs, %d failed, %d were already done%s", self.rank, counts["annotated"],
                 counts["failed"], counts["skipped"], " (interrupted)" if stop.requested else "")
        return {**counts, "seconds": time.time() - started, "interrupted": stop.requested,
                "steady_pairs_per_s": writer.steady_rate()}

    def decoder(self) -> PairDecoder:
        """SIGMA's pairs as its network's square inputs (with intent maps and differences as it needs
        them); another method's pairs whole, at the edited size."""
        if not self.network:
            return PairDecoder(None, pair_key, full_size=True, max_pixels=self.config.max_image_pixels)
        config = self.annotator.config
        return PairDecoder(config.input_size, pair_key, full_size=self.annotator.grounder is not None,
                           intent_cache=self.intent_cache, differences=config.refine.enabled, align=config.align,
                           max_pixels=self.config.max_image_pixels)

    def annotate_batch(self, batch: DecodedBatch) -> PendingBatch | None:
        """Parse, resolve each pair's intent map (cached, grounded now or the ε prior) and queue
        the network for one decoded batch; its probabilities come back to the writer (no host sync here)."""
        if not batch.pairs:
            return None
        parses = parse_many([p.instruction for p in batch.pairs], self.parser, self.parse_cache)
        fused = with_corpus_actions(parses, batch.pairs)  # the action ACSF fuses with
        if not self.network:  # maps at each edited image's size, from the full-size pairs
            maps = self.annotator.predict_proba_batch([s.numpy() for s in batch.sources],
                                                      [e.numpy() for e in batch.editeds])
            intents = [{"grounding": UNIFORM, "why": f"method {self.annotator.name} reads no instruction"}] * len(maps)
            return PendingBatch(list(zip(batch.pairs, parses, fused, intents, batch.source_shapes, batch.edited_shapes,
                                         [None] * len(maps))), maps)
        full_size = [None] * len(batch.pairs)  # the images themselves are decoded only to ground on the fly
        sources = full_size if batch.sources is None else [s.numpy() for s in batch.sources]
        editeds = full_size if batch.editeds is None else [e.numpy() for e in batch.editeds]
        maps, grounding = resolve_intent_maps(fused, sources, editeds, batch.intent_maps, self.annotator.grounder,
                                              self.annotator.config.instruction.epsilon)
        if batch.intent_maps is not None:
            self.looked_up += len(batch.intent_maps)
            self.cache_misses += sum(g["grounding"] != CACHED for g in grounding)
        annotator = self.annotator
        probs = annotator.network_probs(annotator.normalise(batch.source_px), annotator.normalise(batch.edited_px),
                                        None if maps is None else torch.from_numpy(maps)[:, None])
        differences = batch.differences or [None] * len(batch.pairs)
        items = list(zip(batch.pairs, parses, fused, grounding, batch.source_shapes, batch.edited_shapes, differences))
        return PendingBatch.from_device(items, probs)

    def finish_pair(self, item: tuple, prob: np.ndarray) -> dict:
        """Writer side: the pair's probabilities (SIGMA's (S, S); another method's at the edited size)
        → mask at the edited size, filters, PNG, the record."""
        pair, parsed, used, intent, source_shape, edited_shape, difference = item
        prob = resize_map(prob, edited_shape)
        quality = None  # only SIGMA scores its masks
        if self.network:
            prob, quality = self.annotator.refine_scored(prob, None if difference is None else difference.numpy())
        mask = prob > self.annotator.config.mask_threshold
        flags = quality_flags(source_shape, edited_shape, mask, quality, self.config.filters)
        kept = not flags or self.config.filters.action == "flag"
        mask_path = self.masks_dir / f"{file_stem(pair_key(pair))}.png"
        if kept:
            try:
                save_mask(mask_path, mask)
            except OSError as err:
                raise at_path(err, mask_path) from None
        return {
            "key": pair_key(pair), "id": pair.id, "corpus": pair.corpus, "instruction": pair.instruction,
            "source": str(Path(pair.source).resolve()), "edited": str(Path(pair.edited).resolve()),
            "mask": str(mask_path.resolve()) if kept else None,
            "edit_type": pair.edit_type, "action": used["action"], "parse": parsed,
            "area": float(mask.mean()), "quality": quality, "flags": flags, "kept": kept, "method": self.annotator.name,
            **{f"provenance_{k}": v for k, v in self.annotator.provenance.items()},
            "provenance_grounding": intent["grounding"], "provenance_grounding_why": intent["why"],
        }


def annotate(manifests: list[str], out_dir: str, checkpoint: str | None = None, name: str | None = None,
             config: AnnotateConfig | None = None, resume: bool = False, skip_bad: bool = False,
             device: str = "cpu", backbone_weights: str | None = None, parser_weights: str | None = None,
             grounding=None, intent_cache: str | None = None, progress: bool = True,
             corpora: dict[str, str] | None = None, extend: bool = False) -> dict:
    """`manifests`: pairs manifests, streamed and checked beside the work (`ManifestPairs`);
    `corpora`: {corpus name: root} streamed as published (parquet / WebDataset shards / folders).
    `grounding`: a GroundingConfig to ground on the fly; `intent_cache`: a `benco ground` cache
    folder (pairs found there skip grounding). `resume`: continue the run in `out_dir`; `extend`:
    continue it with manifests or corpora that did not feed it yet (implies `resume`)."""
    import torch.distributed as dist

    from ..distributed import setup_distributed

    config = config or AnnotateConfig()
    if not manifests and not corpora:
        raise BadInputError("nothing to annotate: give --pairs MANIFEST and/or --corpus NAME=ROOT")
    if config.method != "sigma" and (grounding or intent_cache or backbone_weights):
        raise BadInputError(f"--method {config.method} reads no instruction and has no backbone: grounding, "
                            "--intent-cache and --backbone-weights are SIGMA's")
    rank, world, dist_device = setup_distributed()
    pairs = ManifestPairs(manifests, skip_bad)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with OutLock(out, rank):
        check_same_method(out, config.method)
        inputs = {"manifests": [str(Path(m).resolve()) for m in manifests],
                  "corpora": {corpus: str(Path(root).resolve()) for corpus, root in (corpora or {}).items()}}
        fed = fed_inputs(out, inputs, extend) if resume or extend else inputs
        done = resumable_keys(out, resume or extend)
        if dist.is_initialized():
            dist.barrier()  # every rank has looked at the earlier run before any writes
        return annotate_locked(pairs, out, done, fed, rank, world, dist_device if world > 1 else device,
                               config=config, checkpoint=checkpoint, name=name, backbone_weights=backbone_weights,
                               parser_weights=parser_weights, grounding=grounding, intent_cache=intent_cache,
                               progress=progress, corpora=corpora)


def annotate_locked(pairs: ManifestPairs, out: Path, done: set[str], fed: dict, rank: int, world: int, device,
                    config: AnnotateConfig, checkpoint: str | None, name: str | None, backbone_weights: str | None,
                    parser_weights: str | None, grounding, intent_cache: str | None, progress: bool,
                    corpora: dict[str, str] | None) -> dict:
    """`annotate` once this rank holds its lock on `out` and knows the `done` keys."""
    import torch.distributed as dist

    from ..data.dataset_names import register_dataset

    parser = build_parser(config.parser, parser_weights)
    grounder = None
    if grounding is not None:
        from ..grounding.grounder import LangSAMGrounder

        grounder = LangSAMGrounder.load(grounding, str(device))
    annotator = load_predictor(config.method, checkpoint, str(device), pixdiff_tau=config.pixdiff_tau,
                               backbone_weights=backbone_weights, grounder=grounder, parser=parser,
                               precision=config.precision)
    cache = None
    if intent_cache:
        from ..grounding.intent import IntentCache

        cache = IntentCache(intent_cache)
    if rank == 0:
        settings = {**fed, "checkpoint": annotator.provenance["checkpoint"], "config": asdict(config),
                    "world_size": world}
        atomic_write_bytes(out / SETTINGS, json.dumps(settings, indent=2).encode())
    mine = (pair for index, pair in enumerate(pairs) if index % world == rank)
    job = AnnotationJob(annotator, out, config, rank, world, cache, parser)
    stream: Iterable[Pair | Unreadable] = mine
    if corpora:
        stream = chain(mine, corpus_pairs(corpora, out, rank, world, done))
    known = None if corpora else pairs.count  # None while the manifests' check is still running
    timing = job.run(stream, done, progress, total=None if known is None else len(range(rank, known, world)))
    if timing["interrupted"]:
        raise JobInterrupted(len(finished_keys(out)), None if corpora else pairs.count)
    if dist.is_initialized():
        dist.barrier()
    if rank != 0:
        return {}
    rate = timing["annotated"] / timing["seconds"] if timing["annotated"] and world == 1 else None
    try:
        stats = merge(out, config.with_authentic, rate, config.mani)
    except OSError as err:
        raise at_path(err, out) from None
    if name:
        register_dataset(name, out)
        stats["registered_as"] = name
    return stats
