"""What an annotation --out folder holds between runs, and who may write it.

- `records/rank{R}.jsonl`: one line per finished pair (append-only; a torn tail is cut before
  the next append); `finished_keys` reads only the keys, so a --resume of a million-pair run
  holds a set of keys and nothing else, and the final merge reads the records one at a time in
  key order (`record_index`, `records_in_key_order`).
- `errors_rank{R}.jsonl`: one line per failed attempt; a pair retried on --resume may appear
  more than once, and `latest_errors` keeps each pair's last failure unless it has since finished.
- `annotate_config.json`: the settings of the last run and every manifest or corpus that fed the
  dataset; a --resume with another input is refused unless it says `--extend`, and a run of
  another --method is refused.
- `.lock.rank{R}`: an exclusive lock (flock) held while a run writes; the kernel releases it
  when the process ends, however it ends, so a dead holder never blocks the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Container, Iterator

from ..data.jsonl import read_jsonl
from ..errors import BadInputError

KEY_PREFIX = '{"key": "'  # how every record line starts (the key is its first field)
SETTINGS = "annotate_config.json"  # the last run's settings and every input that fed the dataset


def record_files(out: Path) -> list[Path]:
    return sorted((out / "records").glob("rank*.jsonl"))


def error_files(out: Path) -> list[Path]:
    return sorted(out.glob("errors_rank*.jsonl"))


def read_records(out: Path) -> dict[str, dict]:
    """Finished pairs of every rank; a torn line (killed mid-write) is ignored."""
    return {record["key"]: record for path in record_files(out) for record in read_jsonl(path)}


def line_key(line: str) -> str | None:
    """The key of one record line, read from its first field without parsing the rest; a line
    that is not one whole record (torn, or two run together) is parsed in full or is None."""
    if line.startswith(KEY_PREFIX) and line.endswith("}\n") and line.count(KEY_PREFIX) == 1:
        return json.decoder.scanstring(line, len(KEY_PREFIX))[0]
    try:
        return json.loads(line)["key"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def keyed_lines(out: Path) -> Iterator[tuple[int, int, str]]:
    """(record file number, byte offset, key) of every whole record line of every rank, in file order."""
    for number, path in enumerate(record_files(out)):
        offset = 0
        with path.open("rb") as handle:
            for raw in handle:
                key = line_key(raw.decode("utf-8", errors="replace"))
                if key is not None:
                    yield number, offset, key
                offset += len(raw)


def finished_keys(out: Path) -> set[str]:
    """Keys of the pairs annotated by any rank of any earlier run."""
    return {key for _, _, key in keyed_lines(out)}


def record_index(out: Path) -> dict[str, tuple[int, int]]:
    """{key: (record file number, byte offset of its last whole line)} of every finished pair."""
    return {key: (number, offset) for number, offset, key in keyed_lines(out)}


def records_in_key_order(out: Path, index: dict[str, tuple[int, int]]) -> Iterator[dict]:
    """Every finished pair's record (its last, where a pair was redone) in key order, read one at a
    time from where `index` (`record_index`) says: a million-pair merge holds the keys and their
    offsets, never all the records."""
    handles = [path.open("rb") for path in record_files(out)]
    try:
        for key in sorted(index):
            number, offset = index[key]
            handles[number].seek(offset)
            try:
                yield json.loads(handles[number].readline())
            except json.JSONDecodeError:  # a line whose key reads but whose body is broken
                continue
    finally:
        for handle in handles:
            handle.close()


def latest_errors(out: Path, finished: Container[str]) -> list[dict]:
    """Each failed pair once (its last failure), in the order pairs first failed; pairs that
    finished on a later attempt are no errors."""
    latest: dict[str, dict] = {}
    for path in error_files(out):
        for error in read_jsonl(path):
            if error.get("key") not in finished:
                latest[error["key"]] = error
    return list(latest.values())


def resumable_keys(out: Path, resume: bool) -> set[str]:
    """Keys of the pairs finished in `out`; refuses an --out that holds an earlier run's records
    or errors unless resuming (a new run would mix with it)."""
    if not resume and any(path.stat().st_size for path in record_files(out) + error_files(out)):
        raise BadInputError(f"{out} already holds an annotation run (its records or errors); pass --resume to "
                            "continue it, or choose another --out")
    return finished_keys(out)


def earlier_settings(out: Path) -> dict | None:
    """The last run's `annotate_config.json` in `out`, or None before the first run."""
    config = out / SETTINGS
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BadInputError(f"{config}: not valid JSON ({err}); it lists what fed this dataset, so --resume "
                            "cannot go on without it: restore it, or choose another --out") from None


def check_same_method(out: Path, method: str) -> None:
    """One dataset, one mask generator: a run into a folder another method annotated is refused."""
    earlier = earlier_settings(out)
    if earlier is not None and (previous := earlier["config"].get("method", "sigma")) != method:
        raise BadInputError(f"{out} holds masks of method {previous}, not {method}; choose another --out")


def fed_inputs(out: Path, inputs: dict, extend: bool) -> dict:
    """Every manifest and corpus that fed the dataset in `out`, with this run's `inputs` added
    ({"manifests": [resolved paths], "corpora": {name: resolved root}}); refuses new ones unless
    `extend` (a --resume with another manifest would merge two datasets silently)."""
    earlier = earlier_settings(out)
    if earlier is None:
        return inputs
    manifests = list(earlier.get("manifests", []))
    corpora = dict(earlier.get("corpora", {}))
    new = [m for m in inputs["manifests"] if m not in manifests]
    new += [f"--corpus {name}={root}" for name, root in inputs["corpora"].items() if corpora.get(name) != root]
    if new and not extend:
        fed = ", ".join(manifests + [f"--corpus {n}={r}" for n, r in corpora.items()]) or "nothing yet"
        raise BadInputError(f"{out} was made from {fed}, not {new[0]}; pass --extend to add its pairs to "
                            "this dataset, or choose another --out")
    return {"manifests": manifests + [m for m in inputs["manifests"] if m not in manifests],
            "corpora": corpora | inputs["corpora"]}


class OutLock:
    """An exclusive lock on one rank's share of an --out folder, naming its holder's pid."""

    def __init__(self, out: Path, rank: int) -> None:
        self.path = out / f".lock.rank{rank}"
        self.handle = None

    def __enter__(self) -> "OutLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise BadInputError(f"{self.path.parent} is being written by another benco annotate (pid {holder}); "
                                "wait for it to end, or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *_) -> None:
        self.handle.close()  # closing the file releases the lock
