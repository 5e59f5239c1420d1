"""Pairs of several manifests as one job sees them: each keyed by corpus and id, once.

A pair's corpus is its own field or, failing that, the name of its manifest's folder (the
resolved path's, however the manifest was named on the command line); the key `corpus/id` names
it in annotation records, error logs and the grounding cache, and `file_stem(key)` names its files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterator

from ..errors import BadInputError
from .manifest import ManifestError, Pair, manifest_lines

SLUG_CHARS = 64  # readable part of a file stem; the stem stays far below the 255-byte file name limit
DIGEST_HEX = 12  # hex digits of the key's SHA-1 in a file stem: tells apart keys that slug alike


def corpus_key(corpus: str | None, pair_id: str) -> str:
    return f"{corpus or ''}/{pair_id}"


def pair_key(pair: Pair) -> str:
    return corpus_key(pair.corpus, pair.id)


def file_stem(key: str) -> str:
    """A file name stem unique to `key` and of bounded length: a readable ASCII slug of it and a
    short hash of its exact text (`a/b`, `a b` and `a_b` slug alike; their hashes differ)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:SLUG_CHARS].strip("._")
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_HEX]
    return f"{slug}-{digest}" if slug else digest


def manifest_corpus(manifest: str | Path) -> str:
    return Path(manifest).resolve().parent.name


class ManifestPairs:
    """The pairs of several manifests, streamed: checked in one pass when made (bad lines,
    duplicates, empty manifests: BadInputError, or skipped with `skip_bad`), then read again pair
    by pair on each iteration, so that no manifest is ever held in memory."""

    def __init__(self, manifests: list[str], skip_bad: bool) -> None:
        self.manifests = list(manifests)
        self.skipped: set[tuple[int, int]] = set()  # (manifest index, line number) of the bad lines skipped
        self.count = self._check(skip_bad)

    def _lines(self, index: int) -> Iterator[tuple[int, Pair | str]]:
        corpus = manifest_corpus(self.manifests[index])
        for number, pair in manifest_lines(self.manifests[index]):
            if not isinstance(pair, str):
                pair.corpus = pair.corpus or corpus
            yield number, pair

    def _check(self, skip_bad: bool) -> int:
        keys: set[str] = set()
        for index, manifest in enumerate(self.manifests):
            ids: set[str] = set()
            problems: list[tuple[int, str]] = []
            for number, pair in self._lines(index):
                why = pair if isinstance(pair, str) else f"duplicate id '{pair.id}'" if pair.id in ids else None
                if why is not None:
                    problems.append((number, why))
                    self.skipped.add((index, number))
                    continue
                if pair_key(pair) in keys:
                    raise BadInputError(f"pair {pair_key(pair)} appears in more than one manifest")
                ids.add(pair.id)
                keys.add(pair_key(pair))
            if problems and not skip_bad:
                raise ManifestError(Path(manifest), problems)
            if not ids:
                raise BadInputError(f"{manifest}: no pair in it; a manifest lists one JSON object per "
                                    "pair, one a line (README, 'Pairs manifest')")
        return len(keys)

    def __iter__(self) -> Iterator[Pair]:
        for index in range(len(self.manifests)):
            yield from (pair for number, pair in self._lines(index) if (index, number) not in self.skipped)

    def __len__(self) -> int:
        return self.count


def load_pairs(manifests: list[str], skip_bad: bool) -> list[Pair]:
    return list(ManifestPairs(manifests, skip_bad))
