"""The check of a job's manifests (bad lines, repeated ids, a pair in two manifests, an empty
manifest), run in a process of its own beside the work.

`ManifestPairs` (pairs.py) starts `python -m imdl_sigma.data.manifest_check`; the check reads
every line once and reports on its stdout, one JSON array a line:
`["skip", index, line]` a line not to use, `["passed", index, line]` every line up to this one of
manifest `index` is checked, `["end", pairs]` all is checked, `["failed", {...}]` what stopped it.
In its own process the check's parsing (~10 µs a line) never competes with the job for the GIL,
and its sets of ids and keys (~200 MB for a million pairs) stay out of the job's memory.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

from ..errors import BadInputError
from .manifest import ManifestError, corpus_key, corpus_lines

CHECK_REPORT_LINES = 256  # the check reports its progress every this many lines
Report = Callable[..., None]  # report(kind, *values)


def check_manifests(manifests: list[str], skip_bad: bool, report: Report) -> int:
    """Check every line of `manifests` once, reporting lines to skip and progress; the number of pairs.
    Raises ManifestError (the bad lines, unless `skip_bad`) or BadInputError."""
    keys: set[str] = set()
    for index, manifest in enumerate(manifests):
        ids: set[str] = set()
        problems: list[tuple[int, str]] = []
        for number, pair in corpus_lines(manifest):
            why = pair if isinstance(pair, str) else f"duplicate id '{pair.id}'" if pair.id in ids else None
            if why is not None:
                problems.append((number, why))
                report("skip", index, number)
            else:
                key = corpus_key(pair.corpus, pair.id)
                if key in keys:
                    raise BadInputError(f"pair {key} appears in more than one manifest")
                ids.add(pair.id)
                keys.add(key)
            if number % CHECK_REPORT_LINES == 0:
                report("passed", index, number)
        if problems and not skip_bad:
            raise ManifestError(Path(manifest), problems)
        if not ids:
            raise BadInputError(f"{manifest}: no pair in it; a manifest lists one JSON object per "
                                "pair, one a line (README, 'Pairs manifest')")
        report("passed", index, sys.maxsize)
    return len(keys)


def failure_message(err: Exception) -> dict:
    """What stopped the check, as JSON the job turns back into the same exception."""
    if isinstance(err, ManifestError):
        return {"type": "manifest", "path": str(err.path), "problems": err.problems}
    if isinstance(err, BadInputError):
        return {"type": "bad_input", "message": str(err)}
    if isinstance(err, OSError):
        return {"type": "os", "errno": err.errno, "strerror": err.strerror, "filename": err.filename}
    return {"type": "internal", "message": f"{type(err).__name__}: {err}"}


def failure_from(message: dict) -> Exception:
    kind = message["type"]
    if kind == "manifest":
        return ManifestError(Path(message["path"]), [tuple(problem) for problem in message["problems"]])
    if kind == "bad_input":
        return BadInputError(message["message"])
    if kind == "os":
        return OSError(message["errno"], message["strerror"], message["filename"])
    return RuntimeError(f"the manifest check failed: {message['message']}")


def main() -> None:
    """The check process: `python -m imdl_sigma.data.manifest_check '{"manifests": [...], "skip_bad": b}'`."""
    request = json.loads(sys.argv[1])
    out = sys.stdout

    def report(*message) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        try:
            report("end", check_manifests(request["manifests"], request["skip_bad"], report))
        except Exception as err:  # noqa: BLE001  (every failure goes to the job, which raises it)
            report("failed", failure_message(err))
    except BrokenPipeError:  # the job is gone: nobody to report to
        os._exit(0)


if __name__ == "__main__":
    main()
