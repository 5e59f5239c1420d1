"""Folder-shaped evaluation sets: edited images, masks and sources, paired by a table or by file name.

Layouts (paths under the corpus root), as each release ships them:
- CoCoGlide (TruFor's CocoGlide.zip): `table.csv` (UTF-8 with BOM; columns real, fake, mask, prompt)
  pairs `real/<COCO class>_<id>.png`, `fake/glide_inpainting_val2017_<id>_up.png` and
  `mask/<COCO class>_<id>_mask.png`; the prompt (the COCO class name) is the instruction.
  Read as a TableLayout: the table, not the file names, says which files belong together.
- BR-Gen: `Tp/<method>_<mask type>_<source>_<id>.png`, `Gt/<same stem>_mask.png`, `Au/<source>_<id>.png`
  (method: LaMa, MAT, SDXL, BrushNet, PowerPaint; mask type: Stuff or Background, kept as the category).
- AutoSplice: `Forged_JPEG100/<id>_<k>.jpg` (or `Forged_JPEG90/75`), `Mask/<id>_mask.png`,
  `Authentic/<id>.jpg`, `Caption/*.json` ({"id", "ori_caption", "oriCaptionTerm", "userInputTerm"}):
  the instruction is "replace the <oriCaptionTerm> with <userInputTerm>".
- DEAL-300K: `<split>/<coco id>.jpg` (source) beside `<split>/<coco id>_qwen<N>.jpg` (edited),
  labels `label/**/<coco id>_qwen<N>.png`, instructions in
  `instructions/checkpoint-<N>_*_results.json` (`[{"image_name", "generated_text"}]`).
Every name is a field of FolderLayout / TableLayout, overridable with `--layout FIELD=VALUE`.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ...errors import BadInputError
from .sample import Blob, CorpusSample, check_override_names

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class FolderLayout:
    edited_dir: str = "fake"
    mask_dir: str = "mask"
    source_dir: str = "real"
    edited_glob: str = "*"  # which files of edited_dir are edited images
    # regex on the edited stem: `key` names the source image, `category` (if any) is the edit_type
    key_pattern: str = r"(?P<key>.+)"
    mask_names: str = "{stem},{stem}_mask,{key}_mask"  # candidate mask stems, first found wins
    source_names: str = "{stem},{key}"  # candidate source stems
    caption_dir: str = ""  # AutoSplice: JSON records {"id", "oriCaptionTerm", "userInputTerm"}
    instructions_glob: str = ""  # DEAL-300K: JSON lists of {"image_name", "generated_text"}

    def with_overrides(self, overrides: dict[str, str]) -> "FolderLayout":
        check_override_names(self, overrides, "layout field")
        return replace(self, **overrides)


@dataclass(frozen=True)
class TableLayout:
    table: str = "table.csv"  # a CSV (a UTF-8 BOM is allowed) with one row per pair
    source: str = "real"  # column of the source image path; also the folder it lies in
    edited: str = "fake"
    mask: str = "mask"
    instruction: str = "prompt"

    def with_overrides(self, overrides: dict[str, str]) -> "TableLayout":
        check_override_names(self, overrides, "layout field")
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


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInputError(f"{path}: not readable JSON ({err})") from None


def caption_table(folder: Path) -> dict[str, str]:
    """AutoSplice `Caption/*.json` → {image id: instruction}; the id is the record's own "id" field."""
    table = {}
    for path in sorted(folder.glob("*.json")):
        record = read_json(path)
        if not isinstance(record, dict):
            continue
        original, edited = (str(record.get(k) or "").strip() for k in ("oriCaptionTerm", "userInputTerm"))
        table[str(record.get("id", path.stem))] = f"replace the {original} with {edited}" if original and edited \
            else edited
    return table


def instruction_table(root: Path, pattern: str) -> dict[str, str]:
    """DEAL-300K: `checkpoint-<N>_*_results.json` → {"<image stem>_qwen<N>": instruction}."""
    table = {}
    for path in sorted(root.glob(pattern)):
        checkpoint = re.search(r"checkpoint-(\d+)", path.name)
        suffix = f"_qwen{checkpoint.group(1)}" if checkpoint else ""
        for record in read_json(path):
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
    captions = caption_table(root / layout.caption_dir) if layout.caption_dir else {}
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
        groups = match.groupdict()
        names = {"stem": edited.stem, "key": groups.get("key", edited.stem)}
        source = first_match(sources, layout.source_names, names)
        mask = first_match(masks, layout.mask_names, names) if layout.mask_dir else None
        error = None
        if source is None or source == edited:
            error = f"no source image ({layout.source_names.format(**names)} in {layout.source_dir}/)"
        elif layout.mask_dir and mask is None:
            error = f"no mask ({layout.mask_names.format(**names)} in {layout.mask_dir}/)"
        yield CorpusSample(
            id=edited.stem, source=Blob(path=str(source or "")), edited=Blob(path=str(edited)),
            instruction=instructions.get(edited.stem) or captions.get(names["key"], ""),
            mask=Blob(path=str(mask)) if mask else None, edit_type=groups.get("category"), corpus=corpus,
            where=str(edited.relative_to(root)), error=error,
        )


def table_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise BadInputError(f"pairing table not found: {path} (set --layout table=...)")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # utf-8-sig drops the BOM
            reader = csv.DictReader(handle)
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise BadInputError(f"{path}: not a readable CSV table ({err})") from None
    if not rows:
        raise BadInputError(f"{path}: the pairing table has no rows")
    return rows


def resolve_in(root: Path, value: str, folder: str) -> Path:
    """A table cell as a path: relative to the root, or a bare file name inside `folder`."""
    candidates = (root / value, root / folder / value)
    return next((c for c in candidates if c.is_file()), candidates[0] if "/" in value else candidates[1])


def read_table(root: str | Path, layout: TableLayout, corpus: str,
               part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    """CoCoGlide: one pair per row of the release's table; the pair id is the edited file's stem."""
    root = Path(root)
    rows = table_rows(root / layout.table)
    roles = (layout.source, layout.edited, layout.mask, layout.instruction)
    missing = [column for column in roles if column and column not in rows[0]]
    if missing:
        raise BadInputError(f"{root / layout.table}: no column(s) {', '.join(missing)}; it has "
                            f"{', '.join(rows[0])} (map them with --layout source=... edited=... mask=...)")
    rank, world = part
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        if (number - 2) % world != rank:
            continue
        source, edited = (resolve_in(root, (row[c] or "").strip(), c) for c in (layout.source, layout.edited))
        mask = resolve_in(root, (row[layout.mask] or "").strip(), layout.mask) if layout.mask else None
        absent = [str(p.relative_to(root)) for p in (source, edited, mask) if p is not None and not p.is_file()]
        yield CorpusSample(
            id=edited.stem, source=Blob(path=str(source)), edited=Blob(path=str(edited)),
            instruction=(row.get(layout.instruction) or "").strip() if layout.instruction else "",
            mask=Blob(path=str(mask)) if mask else None, corpus=corpus, where=f"{layout.table} line {number}",
            error=f"file(s) listed in {layout.table} not found: {', '.join(absent)}" if absent else None,
        )
