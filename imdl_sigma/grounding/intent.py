"""Intent maps per pair: parse → ground each concept on its image → ACSF; and their cache.

A pair's intent map covers the whole edited image, resized to a square `map_size` grid (SIGMA
resizes every input to a square). The cache stores it as float16 `.npy`; training resizes it
to the image, crops and flips it with the images, and the network resizes it to its lattice.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np

from ..data.atomic import atomic_write_bytes
from ..data.pairs import pair_key
from .acsf import acsf, concept_map

DEFAULT_MAP_SIZE = 74  # 2 × the 37 × 37 lattice of a 518 px DINOv2 input
GROUNDED, CACHED, UNIFORM = "langsam", "cache", "none"  # where a pair's intent map came from
NOT_CACHED = "not in the intent cache"
NO_GROUNDER = "no grounding weights given"
ACTION_CONCEPTS = {"add": ("edited",), "remove": ("original",), "replace": ("original", "edited"),
                   "attribute change": ("original", "edited"), "global": ()}


def intent_maps(grounder, parses: list[dict], sources: list[np.ndarray], editeds: list[np.ndarray],
                epsilon: float, map_size: int = DEFAULT_MAP_SIZE) -> list[np.ndarray]:
    """One (map_size, map_size) intent map per pair. Concept o is grounded on the source,
    concept e on the edited image; only the concepts an action needs are grounded."""
    jobs = []  # (pair index, which concept, image, prompt)
    for i, parsed in enumerate(parses):
        for which in ACTION_CONCEPTS[parsed["action"]]:
            if parsed[which]:
                jobs.append((i, which, sources[i] if which == "original" else editeds[i], parsed[which]))
    masks = grounder.ground([job[2] for job in jobs], [job[3] for job in jobs]) if jobs else []
    concept = {(i, which): concept_map(m, (map_size, map_size), epsilon) for (i, which, _, _), m in zip(jobs, masks)}
    return [acsf(parsed["action"], concept.get((i, "original")), concept.get((i, "edited")), (map_size, map_size), epsilon)
            for i, parsed in enumerate(parses)]


def resolve_intent_maps(parses: list[dict], sources: list[np.ndarray], editeds: list[np.ndarray],
                        cached: list[np.ndarray | None] | None, grounder, epsilon: float,
                        map_size: int = DEFAULT_MAP_SIZE) -> tuple[np.ndarray | None, list[dict]]:
    """Each pair's intent map and its provenance, pair by pair: its cached map (`cache`), else
    grounded now when there is a grounder (`langsam`), else the uniform ε prior (`none`, with why).

    `cached`: a map or None per pair from an IntentCache, or None when no cache is used.
    Returns (B, map_size, map_size) maps — None when no pair has one, the model's own ε prior —
    and one {"grounding": ..., "why": ...} per pair.
    """
    maps = [None if m is None else resize_map(m, map_size) for m in (cached or [None] * len(parses))]
    sources_of = {i: CACHED for i, m in enumerate(maps) if m is not None}
    todo = [i for i, m in enumerate(maps) if m is None]
    if grounder is not None and todo:
        grounded = intent_maps(grounder, [parses[i] for i in todo], [sources[i] for i in todo],
                               [editeds[i] for i in todo], epsilon, map_size)
        for i, intent in zip(todo, grounded):
            maps[i], sources_of[i] = intent, GROUNDED
    why_uniform = NOT_CACHED if cached is not None else NO_GROUNDER
    provenance = [{"grounding": sources_of.get(i, UNIFORM), "why": None if i in sources_of else why_uniform}
                  for i in range(len(parses))]
    if not sources_of:
        return None, provenance
    uniform = np.full((map_size, map_size), epsilon, np.float32)
    return np.stack([uniform if m is None else m for m in maps]), provenance


def intent_coverage(pairs: list, cache: "IntentCache | None") -> dict:
    """How many of `pairs` get a grounded intent map (those in the cache); the others get the
    uniform ε prior."""
    grounded = sum(cache.has(pair) for pair in pairs) if cache is not None else 0
    return {"pairs": len(pairs), "grounded": grounded, "cached": grounded,
            "grounded_share": round(grounded / len(pairs), 4) if pairs else 0.0}


def resize_map(intent: np.ndarray, map_size: int) -> np.ndarray:
    """A cached map (written with any --map-size) on the (map_size, map_size) grid."""
    if intent.shape == (map_size, map_size):
        return intent.astype(np.float32)
    return cv2.resize(intent.astype(np.float32), (map_size, map_size), interpolation=cv2.INTER_LINEAR)


class IntentCache:
    """One float16 .npy per pair under `root`, keyed by corpus and pair id; writes are atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, pair) -> Path:
        digest = hashlib.sha1(pair_key(pair).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.npy"

    def has(self, pair) -> bool:
        return self.path(pair).is_file()

    def load(self, pair) -> np.ndarray | None:
        path = self.path(pair)
        return np.load(path).astype(np.float32) if path.is_file() else None

    def save(self, pair, intent: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, intent.astype(np.float16))
        atomic_write_bytes(self.path(pair), buffer.getvalue())
