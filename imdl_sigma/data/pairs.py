"""Pairs of several manifests as one job sees them: each keyed by corpus and id, once.

A pair's corpus is its own field or, failing that, the name of its manifest's folder (the
resolved path's, however the manifest was named on the command line); the key `corpus/id` names
it in annotation records, error logs and the grounding cache, and `file_stem(key)` names its files.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from pathlib import Path
from typing import Iterator

from ..errors import BadInputError
from .manifest import ManifestError, Pair, manifest_lines

SLUG_CHARS = 64  # readable part of a file stem; the stem stays far below the 255-byte file name limit
DIGEST_HEX = 12  # hex digits of the key's SHA-1 in a file stem: tells apart keys that slug alike
CHECK_WAIT_S = 1.0  # how long making a ManifestPairs waits for its check before work may start
CHECK_REPORT_LINES = 256  # the check reports its progress every this many lines


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
    """The pairs of several manifests, streamed: no manifest is ever held in memory.

    A thread checks every line once (bad lines, duplicates, empty manifests) while the pairs are
    used; iterating yields each pair once the check has passed its line, and raises what the
    check found (a ManifestError lists the bad lines) as soon as it is found, unless `skip_bad`
    (bad lines and repeated ids are then skipped). Making it waits up to `wait_s` for the
    check, so a small manifest is checked in full before any work starts, and a million-line
    one while its first pairs are annotated instead of before."""

    def __init__(self, manifests: list[str], skip_bad: bool, wait_s: float = CHECK_WAIT_S) -> None:
        self.manifests, self.skip_bad = list(manifests), skip_bad
        for manifest in self.manifests:
            if not Path(manifest).is_file():
                raise BadInputError(f"manifest not found: {manifest}")
        self.skipped: set[tuple[int, int]] = set()  # (manifest index, line number) of the lines not to use
        self.checked = (-1, 0)  # the last (manifest index, line number) the check has passed
        self.count: int | None = None  # pairs, once the check has ended
        self.failure: Exception | None = None
        self.ended = False
        self.progress = threading.Condition()
        threading.Thread(target=self._check_all, name="manifest-check", daemon=True).start()
        with self.progress:
            self.progress.wait_for(lambda: self.ended, timeout=wait_s)
        self._raise_failure()

    def _lines(self, index: int) -> Iterator[tuple[int, Pair | str]]:
        corpus = manifest_corpus(self.manifests[index])
        for number, pair in manifest_lines(self.manifests[index]):
            if not isinstance(pair, str):
                pair.corpus = pair.corpus or corpus
            yield number, pair

    def _check_all(self) -> None:
        count, failure = None, None
        try:
            count = self._check()
        except Exception as err:  # re-raised where the pairs are used (an unreadable file, ...)
            failure = err
        with self.progress:
            self.count, self.failure, self.ended = count, failure, True
            self.progress.notify_all()

    def _passed(self, index: int, number: int) -> None:
        with self.progress:
            self.checked = (index, number)
            self.progress.notify_all()

    def _check(self) -> int:
        keys: set[str] = set()
        for index, manifest in enumerate(self.manifests):
            ids: set[str] = set()
            problems: list[tuple[int, str]] = []
            for number, pair in self._lines(index):
                why = pair if isinstance(pair, str) else f"duplicate id '{pair.id}'" if pair.id in ids else None
                if why is not None:
                    problems.append((number, why))
                    self.skipped.add((index, number))
                elif pair_key(pair) in keys:
                    raise BadInputError(f"pair {pair_key(pair)} appears in more than one manifest")
                else:
                    ids.add(pair.id)
                    keys.add(pair_key(pair))
                if number % CHECK_REPORT_LINES == 0:
                    self._passed(index, number)
            if problems and not self.skip_bad:
                raise ManifestError(Path(manifest), problems)
            if not ids:
                raise BadInputError(f"{manifest}: no pair in it; a manifest lists one JSON object per "
                                    "pair, one a line (README, 'Pairs manifest')")
            self._passed(index, sys.maxsize)
        return len(keys)

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _wait_for(self, index: int, number: int) -> None:
        """Return once the check has passed line `number` of manifest `index`; raise what it found."""
        if self.checked < (index, number) and not self.ended:
            with self.progress:
                self.progress.wait_for(lambda: self.ended or self.checked >= (index, number))
        self._raise_failure()

    def __iter__(self) -> Iterator[Pair]:
        for index in range(len(self.manifests)):
            for number, pair in self._lines(index):
                self._wait_for(index, number)
                if (index, number) not in self.skipped:
                    yield pair
        self._wait_for(len(self.manifests), 0)

    def __len__(self) -> int:
        self._wait_for(len(self.manifests), 0)
        return self.count


def load_pairs(manifests: list[str], skip_bad: bool) -> list[Pair]:
    return list(ManifestPairs(manifests, skip_bad))
