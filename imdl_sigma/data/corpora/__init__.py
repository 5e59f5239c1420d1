"""Readers for the editing corpora and evaluation sets, as published, exporting to the pairs manifest.

`open_corpus(name, root)` streams CorpusSample objects; `export_corpus` writes them as a
manifest (interfaces.md). Column names follow the public dataset cards (see each entry);
every column / folder name can be overridden, since corpora get re-uploaded with other names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ...errors import BadInputError
from .folders import FolderLayout, read_folders
from .sample import Blob, CorpusSample
from .tabular import ColumnMap, edit_type_from_task, read_paired_by_key, read_parquet, read_webdataset


@dataclass(frozen=True)
class CorpusSpec:
    kind: str  # "parquet" (also read as WebDataset with --format webdataset), "folders", "paired_by_key"
    labeled: bool  # has ground-truth masks
    columns: ColumnMap | None = None
    layout: FolderLayout | None = None
    note: str = ""


CORPORA: dict[str, CorpusSpec] = {
    # Editing corpora (unlabeled; Stage II and annotation input).
    "anyedit": CorpusSpec("parquet", False, ColumnMap(
        source="image_file", edited="edited_file", instruction="edit_instruction", edit_type="edit_type"),
        note="Bin1117/AnyEdit; edit_type (25 types) mapped to the manifest's five"),
    "crispedit": CorpusSpec("parquet", False, ColumnMap(
        source="source_image", edited="edited_image", instruction="instruction"),
        note="CrispEdit-2M: columns not confirmed publicly; map them with --columns ROLE=COLUMN"),
    "omniedit": CorpusSpec("parquet", False, ColumnMap(
        source="src_img", edited="edited_img", instruction="edited_prompt_list", edit_type="task"),
        note="TIGER-Lab/OmniEdit-Filtered-1.2M; the first of edited_prompt_list is the instruction"),
    "promptfix": CorpusSpec("parquet", False, ColumnMap(
        source="input_img", edited="processed_img", instruction="instruction", edit_type="task_id"),
        note="yeates/PromptfixData"),
    "ultraedit": CorpusSpec("parquet", True, ColumnMap(
        source="source_image", edited="edited_image", instruction="edit_prompt", mask="mask_image"),
        note="BleachNick/UltraEdit_Region_Based_100k (region masks)"),
    # Stage I data (inpainting with exact masks).
    "brgen": CorpusSpec("folders", True, layout=FolderLayout(),
                        note="BR-Gen inpainting subset; layout not published machine-readably: fake/ mask/ real/ "
                             "by default, override with --layout"),
    # Evaluation sets (with masks).
    "cocoglide": CorpusSpec("folders", True, layout=FolderLayout(mask_names="{stem},{stem}_mask",
                                                                 source_names="{stem}"),
                            note="TruFor's CocoGlide.zip: fake/ mask/ real/"),
    "autosplice": CorpusSpec("folders", True, layout=FolderLayout(
        edited_dir="Forged_JPEG100", mask_dir="Mask", source_dir="Authentic", key_pattern=r"(?P<key>[^_]+)(_.*)?",
        mask_names="{key}_mask,{stem}_mask", source_names="{key}", caption_dir="Caption"),
        note="AutoSplice: Forged_JPEG100|90|75/, Mask/, Authentic/, Caption/"),
    "magicbrush": CorpusSpec("parquet", True, ColumnMap(
        source="source_img", edited="target_img", instruction="instruction", mask="mask_img", id="img_id",
        turn="turn_index"),
        note="osunlp/MagicBrush; mask_img is the region the editor was allowed to touch (a superset of the change)"),
    "deal300k": CorpusSpec("folders", True, layout=FolderLayout(
        edited_dir="test", source_dir="test", mask_dir="label", key_pattern=r"(?P<key>\d+)_qwen\d+",
        mask_names="{stem}", source_names="{key}", instructions_glob="instructions/*.json"),
        note="DEAL-300K: <split>/ holds sources and edits, label/ the masks, instructions/ the GitHub JSONs"),
    "opensdi": CorpusSpec("paired_by_key", True, ColumnMap(source="image", edited="image", mask="mask", id="key"),
                          note="nebula/OpenSDI_test: fake rows paired with the real row of the same key; "
                               "no instructions"),
}

FORMATS = ("auto", "parquet", "webdataset")


def corpus_spec(name: str) -> CorpusSpec:
    spec = CORPORA.get(name.lower().replace("-", "").replace("_", ""))
    if spec is None:
        raise BadInputError(f"unknown corpus '{name}'; known: {', '.join(CORPORA)}")
    return spec


def open_corpus(name: str, root: str | Path, columns: dict[str, str] | None = None,
                layout: dict[str, str] | None = None, data_format: str = "auto",
                part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    """Stream the samples of corpus `name` under `root` (this part of them, for parallel readers)."""
    spec = corpus_spec(name)
    if data_format not in FORMATS:
        raise BadInputError(f"unknown format '{data_format}'; choose from {', '.join(FORMATS)}")
    corpus = name.lower()
    if spec.kind == "folders":
        return read_folders(root, spec.layout.with_overrides(layout or {}), corpus, part)
    column_map = spec.columns.with_overrides(columns or {})
    if spec.kind == "paired_by_key":
        return read_paired_by_key(root, column_map, corpus, key=column_map.id, part=part)
    if data_format == "webdataset" or (data_format == "auto" and _has_tars(root)):
        return read_webdataset(root, column_map, corpus, part)
    return read_parquet(root, column_map, corpus, part)


def _has_tars(root: str | Path) -> bool:
    root = Path(root)
    if root.is_file():
        return root.suffix == ".tar"
    return root.is_dir() and next(root.rglob("*.tar"), None) is not None and next(root.rglob("*.parquet"), None) is None


__all__ = ["CORPORA", "Blob", "ColumnMap", "CorpusSample", "CorpusSpec", "FolderLayout", "corpus_spec",
           "edit_type_from_task", "open_corpus"]
