"""The pairs manifest: JSON Lines, one pair per line, paths relative to the file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BadInputError
from .images import load_pair
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
        self.problems = problems
        lines = "; ".join(f"{path}:{number}: {why}" for number, why in problems[:3])
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} bad line(s): {lines}{more} (fix them, or --skip-bad to skip them)")


def parse_line(text: str, root: Path) -> Pair:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [key for key in REQUIRED if not record.get(key)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
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
        return str(Path(value) if Path(value).is_absolute() else root / value)

    return Pair(
        id=str(record["id"]), source=resolve(record["source"]), edited=resolve(record["edited"]),
        instruction=instruction, mask=resolve(record.get("mask")), edit_type=edit_type or None,
        corpus=record.get("corpus"),
    )


def read_manifest(path: str | Path, skip_bad: bool = False, check_files: bool = True) -> list[Pair]:
    """Every pair of the manifest. Bad lines (with line numbers) raise ManifestError unless skip_bad."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"manifest not found: {path}")
    pairs, problems, seen = [], [], set()
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                pair = parse_line(text, path.parent)
                if pair.id in seen:
                    raise ValueError(f"duplicate id '{pair.id}'")
                if check_files:
                    for key in ("source", "edited", "mask"):
                        value = getattr(pair, key)
                        if value is not None and not Path(value).is_file():
                            raise ValueError(f"{key} file not found: {value}")
            except ValueError as err:
                problems.append((number, str(err)))
                continue
            seen.add(pair.id)
            pairs.append(pair)
    if problems and not skip_bad:
        raise ManifestError(path, problems)
    return pairs


def write_manifest(path: str | Path, pairs: list[Pair]) -> None:
    """Atomic write; paths are stored relative to the manifest's folder where possible."""
    path = Path(path)
    write_jsonl(path, [pair.to_record(path.parent) for pair in pairs])
