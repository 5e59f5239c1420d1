"""JSON Lines used by the resumable jobs: tolerant reading, atomic writing, torn-tail repair."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from .atomic import atomic_open


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Records of an append-only log, streamed; a torn line (a run killed mid-write) is skipped."""
    path = Path(path)
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def repair_tail(path: str | Path) -> int:
    """Cut a torn last line (a write stopped mid-line: killed, disk full) off an append-only log,
    so the next record starts on a line of its own; returns the bytes removed."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            newline = handle.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    return size - end


def at_path(err: OSError, path: str | Path) -> OSError:
    """`err` naming `path` where it names no file (a failed write(2) knows only its descriptor)."""
    return err if err.filename is not None else OSError(err.errno, err.strerror, str(path))


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """`records` (streamed: any iterable), one a line, written atomically."""
    with atomic_open(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")


class AppendLog:
    """An append-only JSON Lines log: a torn tail is cut when it is opened, and `append` writes
    whole lines unbuffered and fsyncs them, so a failed write leaves nothing pending behind it
    and its error names the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        repair_tail(self.path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def _write(self, data: memoryview) -> int:
        return os.write(self.fd, data)

    def append(self, records: list[dict]) -> None:
        data = memoryview("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8"))
        try:
            while data:
                data = data[self._write(data):]
            os.fsync(self.fd)
        except OSError as err:
            raise at_path(err, self.path) from None

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "AppendLog":
        return self

    def __exit__(self, *_) -> None:
        self.close()
