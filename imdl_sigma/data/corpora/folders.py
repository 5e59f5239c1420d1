"""Folder-shaped evaluation sets: edited images, masks and source images matched by file name.

Layouts (paths under the corpus root; every name is a field of FolderLayout, overridable with
`--layout FIELD=VALUE`):
- CoCoGlide (TruFor's release): `fake/<stem>.png`, `mask/<stem>.png|<stem>_mask.png`, `real/<stem>.*`.
- AutoSplice: `Forged_JPEG100/<id>_<k>.jpg` (or `Forged_JPEG90/75`), `Mask/<id>_mask.png`,
  `Authentic/<id>.jpg`, the text prompt in `Caption/<id>.json|.txt`.
- DEAL-300K: `<split>/<coco id>.jpg` (source) beside `<split>/<coco id>_qwen<N>.jpg` (edited),
  labels `label/**/<coco id>_qwen<N>.png`, instructions in
  `instructions/checkpoint-<N>_*_results.json` (`[{"image_name", "generated_text"}]`).
- BR-Gen: no machine-readable layout is published; the default is the common
  `fake/`, `mask/`, `real/` one — override the folder names with --layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Iterator

from ...errors import BadInputError
from .sample import Blob, CorpusSample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class FolderLayout:
    edited_dir: str = "fake"
    mask_dir: str = "mask"
    source_dir: str = "real"
    edited_glob: str = "*"  # which files of edited_dir are edited images
    key_pattern: str = r"(?P<key>.+)"  # regex on the edited stem; `key` names the source image
    mask_names: str = "{stem},{stem}_mask,{key}_mask"  # candidate mask stems, first found wins
    source_names: str = "{stem},{key}"  # candidate source stems
    caption_dir: str = ""  # AutoSplice: <caption_dir>/<key>.json|.txt
    instructions_glob: str = ""  # DEAL-300K: JSON lists of {"image_name", "generated_text"}

    def with_overrides(self, overrides: dict[str, str]) -> "FolderLayout":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise BadInputError(f"unknown layout field(s) {', '.join(unknown)}; fields: {', '.join(sorted(known))}")
        return replace(self, **overrides)


def index_images(folder: Path) -> dict[str, Path]:
    """stem → path of every image under folder (recursively)."""
    return {p.stem: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}


def first_match(index: dict[str, Path], templates: str, names: dict) -> Path | None:
    for template in templates.split(","):
        path = index.get(template.format(**names))
        if path is not None:
            return path
    return None


def caption_reader(folder: Path) -> Callable[[str], str]:
    """AutoSplice captions: <key>.txt, or <key>.json holding the prompt under a text-like key."""

    def read(key: str) -> str:
        text_file, json_file = folder / f"{key}.txt", folder / f"{key}.json"
        if text_file.is_file():
            return text_file.read_text(encoding="utf-8").strip()
        if json_file.is_file():
            record = json.loads(json_file.read_text(encoding="utf-8"))
            if isinstance(record, dict):
                for name in ("prompt", "text_prompt", "instruction", "caption", "text"):
                    if isinstance(record.get(name), str):
                        return record[name].strip()
            if isinstance(record, str):
                return record.strip()
        return ""

    return read


def instruction_table(root: Path, pattern: str) -> dict[str, str]:
    """DEAL-300K: `checkpoint-<N>_*_results.json` → {"<image stem>_qwen<N>": instruction}."""
    table = {}
    for path in sorted(root.glob(pattern)):
        checkpoint = re.search(r"checkpoint-(\d+)", path.name)
        suffix = f"_qwen{checkpoint.group(1)}" if checkpoint else ""
        for record in json.loads(path.read_text(encoding="utf-8")):
            table[Path(record["image_name"]).stem + suffix] = record.get("generated_text", "").strip()
    return table


def read_folders(root: str | Path, layout: FolderLayout, corpus: str,
                 part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    root = Path(root)
    edited_dir = root / layout.edited_dir
    if not edited_dir.is_dir():
        raise BadInputError(f"{corpus}: folder of edited images not found: {edited_dir} (set --layout edited_dir=...)")
    masks = index_images(root / layout.mask_dir) if layout.mask_dir else {}
    sources = index_images(root / layout.source_dir)
    captions = caption_reader(root / layout.caption_dir) if layout.caption_dir else None
    instructions = instruction_table(root, layout.instructions_glob) if layout.instructions_glob else {}
    key_pattern = re.compile(layout.key_pattern)
    edited_files = sorted(p for p in edited_dir.rglob(layout.edited_glob) if p.suffix.lower() in IMAGE_SUFFIXES)
    rank, world = part
    for index, edited in enumerate(edited_files):
        if index % world != rank:
            continue
        match = key_pattern.fullmatch(edited.stem)
        if match is None:
            continue  # not an edited image of this layout (e.g. a DEAL-300K source beside its edits)
        names = {"stem": edited.stem, "key": match.groupdict().get("key", edited.stem)}
        source = first_match(sources, layout.source_names, names)
        mask = first_match(masks, layout.mask_names, names) if layout.mask_dir else None
        error = None
        if source is None or source == edited:
            error = f"no source image ({layout.source_names.format(**names)} in {layout.source_dir}/)"
        elif layout.mask_dir and mask is None:
            error = f"no mask ({layout.mask_names.format(**names)} in {layout.mask_dir}/)"
        instruction = instructions.get(edited.stem) or (captions(names["key"]) if captions else "")
        yield CorpusSample(
            id=edited.stem, source=Blob(path=str(source or "")), edited=Blob(path=str(edited)),
            instruction=instruction, mask=Blob(path=str(mask)) if mask else None, corpus=corpus,
            where=str(edited.relative_to(root)), error=error,
        )
