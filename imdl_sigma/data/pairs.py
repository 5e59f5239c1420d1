"""Pairs of several manifests as one job sees them: each keyed by corpus and id, once.

A pair's corpus is its own field or, failing that, the name of its manifest's folder (the
resolved path's, however the manifest was named on the command line); the key `corpus/id` names
it in annotation records, error logs and the grounding cache, and `file_stem(key)` names its files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Iterator

from ..errors import BadInputError
from .manifest import Pair, corpus_key, corpus_lines
from .manifest_check import failure_from

SLUG_CHARS = 64  # readable part of a file stem; the stem stays far below the 255-byte file name limit
DIGEST_HEX = 12  # hex digits of the key's SHA-1 in a file stem: tells apart keys that slug alike
CHECK_WAIT_S = 1.0  # how long making a ManifestPairs waits for its check before work may start


def pair_key(pair: Pair) -> str:
    return corpus_key(pair.corpus, pair.id)


def file_stem(key: str) -> str:
    """A file name stem unique to `key` and of bounded length: a readable ASCII slug of it and a
    short hash of its exact text (`a/b`, `a b` and `a_b` slug alike; their hashes differ)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:SLUG_CHARS].strip("._")
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_HEX]
    return f"{slug}-{digest}" if slug else digest


def start_check(manifests: list[str], skip_bad: bool) -> subprocess.Popen:
    """The `manifest_check` process for `manifests`, in a session of its own (Ctrl-C reaches the job
    alone, which then ends it), reporting on a pipe."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    request = json.dumps({"manifests": manifests, "skip_bad": skip_bad})
    return subprocess.Popen([sys.executable, "-m", "imdl_sigma.data.manifest_check", request], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def stop_check(check: subprocess.Popen) -> None:
    if check.poll() is None:
        check.kill()
        check.wait()


class ManifestPairs:
    """The pairs of several manifests, streamed: no manifest is ever held in memory.

    A process of its own (`manifest_check`) checks every line once (bad lines, duplicates, empty
    manifests) while the pairs are used; iterating yields each pair once the check has passed its
    line, and raises what the check found (a ManifestError lists the bad lines) as soon as it is
    found, unless `skip_bad` (bad lines and repeated ids are then skipped). Making it waits up to
    `wait_s` for the check, so a small manifest is checked in full before any work starts, and a
    million-line one while its first pairs are annotated instead of before."""

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
        check = start_check(self.manifests, skip_bad)
        weakref.finalize(self, stop_check, check)  # at the latest when the job's interpreter exits
        threading.Thread(target=self._follow, args=(check,), name="manifest-check", daemon=True).start()
        with self.progress:
            self.progress.wait_for(lambda: self.ended, timeout=wait_s)
        self._raise_failure()

    def _follow(self, check: subprocess.Popen) -> None:
        """Take in the check's reports until it ends (on this thread)."""
        count, failure = None, None
        try:
            with check:  # its pipes closed and the process reaped when it ends
                for line in check.stdout:
                    kind, *values = json.loads(line)
                    if kind == "skip":
                        self.skipped.add(tuple(values))
                    elif kind == "passed":
                        self._passed(*values)
                    elif kind == "end":
                        count = values[0]
                    else:
                        failure = failure_from(values[0])
                if count is None and failure is None:
                    why = check.stderr.read().decode(errors="replace").strip().splitlines()
                    failure = RuntimeError(f"the manifest check stopped (exit code {check.wait()})"
                                           + (f": {why[-1]}" if why else ""))
        except Exception as err:  # re-raised where the pairs are used
            failure = err
        with self.progress:
            self.count, self.failure, self.ended = count, failure, True
            self.progress.notify_all()

    def _passed(self, index: int, number: int) -> None:
        with self.progress:
            self.checked = (index, number)
            self.progress.notify_all()

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
            for number, pair in corpus_lines(self.manifests[index]):
                self._wait_for(index, number)
                if (index, number) not in self.skipped:
                    yield pair
        self._wait_for(len(self.manifests), 0)

    def __len__(self) -> int:
        self._wait_for(len(self.manifests), 0)
        return self.count


def load_pairs(manifests: list[str], skip_bad: bool) -> list[Pair]:
    return list(ManifestPairs(manifests, skip_bad))
