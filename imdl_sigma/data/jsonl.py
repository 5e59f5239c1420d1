"""JSON Lines used by the resumable jobs: tolerant reading, atomic writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .images import atomic_write_bytes


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Records of an append-only log; a torn line (a run killed mid-write) is skipped."""
    path = Path(path)
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    atomic_write_bytes(path, ("\n".join(lines) + "\n" if lines else "").encode("utf-8"))
