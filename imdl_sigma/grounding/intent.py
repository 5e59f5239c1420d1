"""Intent maps per pair: parse → ground each concept on its image → ACSF; and their cache.

A pair's intent map covers the whole edited image, resized to a square `map_size` grid (SIGMA
resizes every input to a square). The cache stores it as float16 `.npy`; training resizes it
to the image, crops and flips it with the images, and the network resizes it to its lattice.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ..data.images import atomic_write_bytes
from .acsf import acsf, concept_map

DEFAULT_MAP_SIZE = 74  # 2 × the 37 × 37 lattice of a 518 px DINOv2 input


def intent_maps(grounder, parses: list[dict], sources: list[np.ndarray], editeds: list[np.ndarray],
                epsilon: float, map_size: int = DEFAULT_MAP_SIZE) -> list[np.ndarray]:
    """One (map_size, map_size) intent map per pair. Concept o is grounded on the source,
    concept e on the edited image; only the concepts an action needs are grounded."""
    needs = {"add": ("edited",), "remove": ("original",), "replace": ("original", "edited"),
             "attribute change": ("original", "edited"), "global": ()}
    jobs = []  # (pair index, which concept, image, prompt)
    for i, parsed in enumerate(parses):
        for which in needs[parsed["action"]]:
            if parsed[which]:
                jobs.append((i, which, sources[i] if which == "original" else editeds[i], parsed[which]))
    masks = grounder.ground([job[2] for job in jobs], [job[3] for job in jobs]) if jobs else []
    concept = {(i, which): concept_map(m, (map_size, map_size), epsilon) for (i, which, _, _), m in zip(jobs, masks)}
    return [acsf(parsed["action"], concept.get((i, "original")), concept.get((i, "edited")), (map_size, map_size), epsilon)
            for i, parsed in enumerate(parses)]


class IntentCache:
    """One float16 .npy per pair under `root`, keyed by corpus and pair id; writes are atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, pair) -> Path:
        key = f"{pair.corpus or ''}/{pair.id}"
        digest = hashlib.sha1(key.encode()).hexdigest()
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
