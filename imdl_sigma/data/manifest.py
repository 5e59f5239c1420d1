"""The pairs manifest: JSON Lines, one pair per line, paths relative to the file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ..errors import BadInputError
from .jsonl import write_jsonl

REQUIRED = ("id", "source", "edited")


@dataclass
class Pair:
    id: str
    source: str  # absolute path once read
    edited: str
    instruction: str = ""
    mask: str | None = None
    edit_type: str | None = None  # the corpus's own category, free text ("color_alter", "zero-edit", ...)
    corpus: str | None = None

    def load_images(self):
        """(source, edited) as (H, W, 3) uint8 RGB, the source at the edited image's size."""
        from .images import load_pair  # here: the manifest check reads manifests without the image stack

        return load_pair(self.source, self.edited, self.id)

    def to_record(self, root: Path | None = None) -> dict:
        record = asdict(self)
        if root is not None:
            for key in ("source", "edited", "mask"):
                if record[key] is not None:
                    record[key] = _relative(record[key], root)
        if record["corpus"] is None:
            del record["corpus"]
        return record


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(Path(path).resolve())


class ManifestError(BadInputError):
    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path, self.problems = path, problems
        lines = "; ".join(f"{path}:{number}: {why}" for number, why in problems[:3])
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} bad line(s): {lines}{more} (fix them, or --skip-bad to skip them)")


def corpus_key(corpus: str | None, pair_id: str) -> str:
    """The key `corpus/id` that names a pair in a job's records, error logs and grounding cache."""
    return f"{corpus or ''}/{pair_id}"


def manifest_corpus(manifest: str | Path) -> str:
    """The corpus of a manifest's pairs that name none: its folder's name (the resolved path's)."""
    return Path(manifest).resolve().parent.name


def parse_line(text: str, root: Path) -> Pair:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [key for key in REQUIRED if key not in record or record[key] in ("", None)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(record["id"], str):
        raise ValueError("id must be a non-empty string")
    edit_type = record.get("edit_type")  # free text; never a reason to reject the pair
    if edit_type is not None and not isinstance(edit_type, str):
        edit_type = json.dumps(edit_type, ensure_ascii=False)
    instruction = record.get("instruction") or ""
    if not isinstance(instruction, str):
        raise ValueError("instruction is not a string")

    def resolve(value):
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"path {value!r} is not a string")
        return value if os.path.isabs(value) else os.path.join(root, value)

    return Pair(
        id=record["id"], source=resolve(record["source"]), edited=resolve(record["edited"]),
        instruction=instruction, mask=resolve(record.get("mask")), edit_type=edit_type or None,
        corpus=record.get("corpus"),
    )


def decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text (a manifest is UTF-8 JSON Lines; re-save it as UTF-8)") from None


def missing_file(pair: Pair) -> str | None:
    """Why the pair cannot be read from disk (a file it names is absent), or None."""
    for key in ("source", "edited", "mask"):
        value = getattr(pair, key)
        if value is not None and not Path(value).is_file():
            return f"{key} file not found: {value}"
    return None


def manifest_lines(path: str | Path) -> Iterator[tuple[int, Pair | str]]:
    """(line number, the pair or why the line is bad) for every non-blank line, streamed: the
    manifest is never held in memory. Duplicate ids and missing files are the caller's to check."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"manifest not found: {path}")
    root = os.path.abspath(path.parent)  # pairs hold absolute paths, whatever the working directory
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, parse_line(decode_line(raw), root)
            except ValueError as err:
                yield number, str(err)


def corpus_lines(path: str | Path) -> Iterator[tuple[int, Pair | str]]:
    """`manifest_lines` with each pair's corpus set: its own field, else the manifest's folder name
    (`manifest_corpus`), as a job keys its pairs."""
    corpus = manifest_corpus(path)
    for number, pair in manifest_lines(path):
        if not isinstance(pair, str):
            pair.corpus = pair.corpus or corpus
        yield number, pair


def read_manifest(path: str | Path, skip_bad: bool = False, check_files: bool = True) -> list[Pair]:
    """Every pair of the manifest. Bad lines (with line numbers) raise ManifestError unless skip_bad."""
    pairs, problems, seen = [], [], set()
    for number, pair in manifest_lines(path):
        why = pair if isinstance(pair, str) else None
        if why is None and pair.id in seen:
            why = f"duplicate id '{pair.id}'"
        if why is None and check_files:
            why = missing_file(pair)
        if why is not None:
            problems.append((number, why))
            continue
        seen.add(pair.id)
        pairs.append(pair)
    if problems and not skip_bad:
        raise ManifestError(Path(path), problems)
    return pairs


def write_manifest(path: str | Path, pairs: list[Pair]) -> None:
    """Atomic write; paths are stored relative to the manifest's folder where possible."""
    path = Path(path)
    write_jsonl(path, [pair.to_record(path.parent) for pair in pairs])
