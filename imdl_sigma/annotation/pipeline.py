"""The annotate job's I/O around the network: decode workers in front, a writer thread behind.

    decode (DataLoader workers)  →  parse, ground, network (main thread)  →  write (a thread)

Decode workers read each batch's images, match the source to the edited size, resize both to
the network's square input (uint8, handed over in shared memory and pinned; a method that reads
the pairs whole gets them at the edited size instead) and load cached intent maps. The main
thread only queues device work: the edit probabilities come back with one non-blocking device →
host copy per batch, which the writer thread waits for. The writer
finishes batches strictly in submission order — every mask of a batch (atomic writes), then its
records, fsync'd — so a record always points at a complete mask and `--resume` redoes at most
the batches that were in flight.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import select
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Callable, ContextManager, Iterable, Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import AlignConfig
from ..photometric.align import align_source
from ..console import one_line
from ..data.images import MAX_PIXELS, load_rgb, match_size
from ..data.manifest import Pair
from ..data.tensors import resize_square
from ..errors import BadInputError
from ..inference.refine import pixel_difference


@dataclass
class DecodedBatch:
    """One batch as decode workers hand it over; `pairs` holds only the pairs that could be read."""

    pairs: list[Pair]
    source_px: torch.Tensor  # (B, S, S, 3) uint8 network inputs
    edited_px: torch.Tensor  # (B, S, S, 3) uint8
    source_shapes: list[tuple[int, int]]  # (H, W) of each source as read, before size matching
    edited_shapes: list[tuple[int, int]]  # (H, W) of each edited image: the mask's size
    errors: list[tuple[str, str]] = field(default_factory=list)  # (pair key, message) of unreadable pairs
    sources: list[torch.Tensor] | None = None  # (H, W, 3) uint8 at the edited size, for grounding on the fly
    editeds: list[torch.Tensor] | None = None
    intent_maps: list[np.ndarray | None] | None = None  # each pair's cached (m, m) map or None; None: no cache
    differences: list[torch.Tensor] | None = None  # (H, W) uint8 max-channel |Δ| at the edited size, to refine

    def pin_memory(self) -> "DecodedBatch":
        """Called by the DataLoader's pinning thread: page-locked inputs copy to the GPU asynchronously."""
        return replace(self, source_px=self.source_px.pin_memory(), edited_px=self.edited_px.pin_memory())


@dataclass
class DecodedPair:
    """One pair's arrays, decoded: everything that can fail for this pair alone has run."""

    source: np.ndarray  # (H, W, 3) uint8 at the edited size
    edited: np.ndarray  # (H, W, 3) uint8
    source_shape: tuple[int, int]  # (H, W) of the source as read, before size matching
    aligned: np.ndarray | None  # the network's source: `source` aligned to the edited image (None: no network)
    intent_map: np.ndarray | None  # the cached (m, m) map, when there is a cache
    difference: np.ndarray | None  # (H, W) uint8 max-channel |Δ|, when refinement needs it


class PairDecoder(Dataset):
    """A map-style dataset whose index is a batch of pairs (the sampler hands out batches).

    `side`: the network's square input size; None: no network inputs (a method that reads the
    pairs whole, `full_size`);
    `full_size`: also return the size-matched images themselves (grounding needs them);
    `intent_cache`: an IntentCache to read each pair's intent map from;
    `differences`: also return each pair's pixel difference at the edited size (refinement needs it);
    `align`: the network's source is aligned to the edited image (the annotator's config.align);
    the differences are the raw ones, as the Annotator's refinement measures them;
    `max_pixels`: the largest image read (width × height).
    A pair whose decoding fails in any way (unreadable, too small or too large, or an error of
    the alignment or the cache) is that pair's error; the rest of its batch goes on."""

    def __init__(self, side: int | None, key: Callable[[Pair], str], full_size: bool = False, intent_cache=None,
                 differences: bool = False, align: AlignConfig = AlignConfig(), max_pixels: int = MAX_PIXELS) -> None:
        self.side, self.key, self.full_size, self.intent_cache = side, key, full_size, intent_cache
        self.differences, self.align, self.max_pixels = differences, align, max_pixels

    def decode(self, pair: Pair) -> DecodedPair:
        edited = load_rgb(pair.edited, "edited image", self.max_pixels)
        source = load_rgb(pair.source, "source image", self.max_pixels)
        matched = match_size(source, edited, pair.id)
        return DecodedPair(
            matched, edited, source.shape[:2], align_source(matched, edited, self.align) if self.side else None,
            self.intent_cache.load(pair) if self.intent_cache is not None else None,
            pixel_difference(matched, edited) if self.differences else None,
        )

    def decode_or_error(self, pair: Pair) -> DecodedPair | str:
        """The decoded pair, or the one-line message of why it cannot be."""
        try:
            return self.decode(pair)
        except BadInputError as err:
            return str(err)
        except Exception as err:  # any other failure is still this pair's alone
            return f"could not be decoded: {err.__class__.__name__}: {one_line(str(err))}"

    def __getitem__(self, pairs: list[Pair]) -> DecodedBatch:
        read, decoded, errors = [], [], []
        for pair in pairs:
            result = self.decode_or_error(pair)
            if isinstance(result, str):
                errors.append((self.key(pair), result))
            else:
                read.append(pair)
                decoded.append(result)
        if not read:
            empty = torch.zeros(0, self.side or 0, self.side or 0, 3, dtype=torch.uint8)
            return DecodedBatch([], empty, empty, [], [], errors)
        editeds = [d.edited for d in decoded]
        as_tensors = (lambda images: [torch.from_numpy(image) for image in images]) if self.full_size else (lambda _: None)
        if self.side is None:
            source_px = edited_px = torch.zeros(len(read), 0, 0, 3, dtype=torch.uint8)
        else:
            source_px = torch.from_numpy(resize_square([d.aligned for d in decoded], self.side))
            edited_px = torch.from_numpy(resize_square(editeds, self.side))
        return DecodedBatch(
            read, source_px, edited_px, [d.source_shape for d in decoded], [e.shape[:2] for e in editeds], errors,
            as_tensors([d.source for d in decoded]), as_tensors(editeds),
            [d.intent_map for d in decoded] if self.intent_cache is not None else None,
            [torch.from_numpy(d.difference) for d in decoded] if self.differences else None,
        )


def _as_is(batch: DecodedBatch) -> DecodedBatch:
    return batch


def exit_with_parent() -> None:
    """End this process as soon as the process that started it (its multiprocessing parent) has
    ended, even by kill -9: a daemon thread waits on a pidfd of the parent (Linux ≥ 5.3; where
    there is none, only the DataLoader's own watchdog is left). A decode worker's OS parent is the
    fork server, which lives as long as any worker does, so a parent-death signal would not fire."""
    parent = multiprocessing.parent_process()
    if parent is None or not hasattr(os, "pidfd_open"):
        return
    try:
        handle = os.pidfd_open(parent.pid)
    except ProcessLookupError:  # already gone
        os._exit(1)

    def wait() -> None:
        select.select([handle], [], [])  # readable once the parent has exited
        os._exit(1)

    threading.Thread(target=wait, name="exit-with-parent", daemon=True).start()


def _worker_init(_: int) -> None:
    """Each decode worker is one core (the DataLoader already gives torch one thread). Ctrl-C and
    SIGTERM sent to the process group are the job's to handle (finish the batches in flight):
    workers ignore them and are shut down by the DataLoader, or end with the job's process."""
    cv2.setNumThreads(1)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    exit_with_parent()


def decode_workers(requested: int | None, device: torch.device) -> int:
    """`requested`, or by default half the cores (at most 8) beside a GPU and none on CPU,
    where workers would only take cores from the network."""
    if requested is not None:
        return requested
    return min(8, max(1, (os.cpu_count() or 2) // 2)) if device.type == "cuda" else 0


def decoded_batches(batches: Iterable[list[Pair]], decoder: PairDecoder, workers: int,
                    pin_memory: bool) -> Iterator[DecodedBatch]:
    """Decode `batches` (consumed lazily, in order) `workers` batches at a time. Workers start
    from a fork server, not a fork of this process: OpenCV's and OpenMP's thread pools (and a
    CUDA context) do not survive a fork, and a forked worker can hang in its first resize. The
    server imports this module once, so each worker starts as a fork of it, in milliseconds."""
    if workers:
        multiprocessing.set_forkserver_preload([__name__])
    return iter(DataLoader(decoder, sampler=batches, batch_size=None, collate_fn=_as_is, num_workers=workers,
                           pin_memory=pin_memory, worker_init_fn=_worker_init if workers else None,
                           prefetch_factor=2 if workers else None,
                           multiprocessing_context="forkserver" if workers else None))


@dataclass
class PendingBatch:
    """A batch whose probabilities are on their way back from the device."""

    items: list  # per-pair context, handed to the job's `finish` with the pair's map
    # (B, S, S) float32 on the host (filled once `ready` has happened), or one (H, W) map per pair
    # from a method that reads the pairs whole
    probs: torch.Tensor | list[np.ndarray]
    ready: torch.cuda.Event | None = None

    def host_maps(self) -> np.ndarray | list[np.ndarray]:
        """The maps, once `ready` has happened."""
        return self.probs.numpy() if isinstance(self.probs, torch.Tensor) else self.probs

    @classmethod
    def from_device(cls, items: list, probs: torch.Tensor) -> "PendingBatch":
        """Start the one device → host copy of `probs` (B, 1, S, S) without waiting for it."""
        host = probs[:, 0].to("cpu", non_blocking=True)
        ready = None
        if probs.is_cuda:
            ready = torch.cuda.Event()
            ready.record()
        return cls(items, host, ready)


class OutputWriter:
    """A thread finishing batches in submission order: `finish(item, prob) -> record` for every
    pair of a batch (on `threads` threads: resize, threshold, PNG), then the batch's records,
    appended to the `records` AppendLog (fsync'd) inside `critical()` (a StopRequest's: a
    second Ctrl-C is held until the records are on disk, then drops the rest). Errors go to the
    `errors` AppendLog through the same thread. `close()` drains
    the queue, also when the job stops on an exception, and re-raises a failure of the thread;
    after `drop()` the batches not yet being written are discarded."""

    def __init__(self, finish: Callable, records, errors, threads: int = 4, depth: int = 4,
                 on_written: Callable[[int], None] = lambda n: None,
                 critical: Callable[[], ContextManager] = nullcontext) -> None:
        self.finish, self.records, self.errors, self.on_written = finish, records, errors, on_written
        self.critical = critical
        self.dropped = False  # set by drop(): nothing more is written
        self.closing = False
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="annotate-write")
        self.tasks: queue.Queue = queue.Queue(maxsize=depth)
        self.written = 0
        self.first_batch: tuple[int, float] | None = None  # (pairs, time) when the first batch was written
        self.last_written_at = 0.0
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="annotate-writer", daemon=True)
        self.thread.start()

    def _put(self, task) -> None:
        while True:
            if self.failure is not None:
                raise self.failure
            try:
                self.tasks.put(task, timeout=0.5)
                return
            except queue.Full:
                continue

    def error(self, key: str, message: str) -> None:
        self._put(("error", {"key": key, "error": message}))

    def submit(self, batch: PendingBatch) -> None:
        self._put(("batch", batch))

    def _loop(self) -> None:
        while (task := self.tasks.get()) is not None:
            if self.failure is not None or self.dropped:
                continue  # drain without writing: nothing after a failed batch may be recorded
            try:
                self._write(*task)
            except BaseException as err:  # re-raised in the main thread
                self.failure = err

    def _write(self, kind: str, payload) -> None:
        if kind == "error":
            self.errors.append([payload])
            return
        if payload.ready is not None:
            payload.ready.synchronize()
        records = list(self.pool.map(self.finish, payload.items, payload.host_maps()))
        try:
            with self.critical():
                self.records.append(records)
        except KeyboardInterrupt:  # a second signal arrived during the write, which is complete
            self.dropped = True
        self.written += len(records)
        self.last_written_at = time.perf_counter()
        self.first_batch = self.first_batch or (self.written, self.last_written_at)
        self.on_written(len(records))

    def steady_rate(self) -> float | None:
        """Pairs/s after the first batch (worker start-up and warm-up left out); None before two batches."""
        if self.first_batch is None or self.written == self.first_batch[0]:
            return None
        return (self.written - self.first_batch[0]) / (self.last_written_at - self.first_batch[1])

    def drop(self) -> None:
        """Write nothing more: the batch being written is finished, the queued ones are discarded."""
        self.dropped = True

    def close(self, reraise: bool = True) -> None:
        if not self.closing:
            self.closing = True
            self.tasks.put(None)
        self.thread.join()
        self.pool.shutdown()
        if reraise and self.failure is not None:
            raise self.failure

    def close_draining(self, reraise: bool = True) -> None:
        """`close()` that a Ctrl-C cannot cut short: it drops the queued batches instead, and the
        batch being written still reaches the disk before this returns."""
        while True:
            try:
                self.close(reraise)
                return
            except KeyboardInterrupt:
                self.drop()

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(reraise=exc_type is None)  # an exception already on its way wins
