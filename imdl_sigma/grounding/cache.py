"""On-disk cache of instruction parses, keyed by backend and instruction text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..data.jsonl import read_jsonl
from .parser import InstructionParser
from .rules import RULES


def parse_key(backend: str, instruction: str) -> str:
    return hashlib.sha1(f"{backend}\x00{instruction}".encode("utf-8")).hexdigest()


class ParseCache:
    """JSON Lines, append-only: a crash loses at most the batch being written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, dict] = {record["key"]: record["parse"] for record in read_jsonl(self.path)}

    def get(self, backend: str, instruction: str) -> dict | None:
        return self.entries.get(parse_key(backend, instruction))

    def put_many(self, backend: str, parses: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            for instruction, parsed in parses.items():
                key = parse_key(backend, instruction)
                self.entries[key] = parsed
                handle.write(json.dumps({"key": key, "instruction": instruction, "parse": parsed}) + "\n")


def parse_many(instructions: list[str], parser: InstructionParser = RULES,
               cache: ParseCache | None = None) -> list[dict]:
    """Parse a batch, reading and filling the cache; the parser sees each new text once."""
    todo = sorted({text for text in instructions if cache is None or cache.get(parser.name, text) is None})
    fresh = dict(zip(todo, parser.parse(todo))) if todo else {}
    if cache is not None and fresh:
        cache.put_many(parser.name, fresh)
    return [fresh[text] if text in fresh else cache.get(parser.name, text) for text in instructions]
