"""Readers for the editing corpora and evaluation sets, as published, exporting to the pairs manifest.

`open_corpus(name, root)` streams CorpusSample objects; `export_corpus` writes them as a
manifest (data/manifest.py). Each entry of CORPORA reads its release's own layout and says where
that layout was taken from (`source`); every column / folder name can be overridden, since
corpora get re-uploaded with other names. A corpus's own category column is kept, as text, in
the manifest's `edit_type`; `categories.category_action` maps it to an ACSF action where it can.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, get_args

from ...errors import BadInputError
from .categories import category_action
from .folders import FolderLayout, TableLayout, read_folders, read_table
from .sample import Blob, CorpusSample
from .tabular import ColumnMap, read_opensdi, read_parquet, read_webdataset


@dataclass(frozen=True)
class CorpusSpec:
    kind: str  # "parquet" (also read as WebDataset with --format webdataset), "folders", "table", "opensdi"
    labeled: bool  # has ground-truth masks
    source: str  # where the release layout read here was taken from
    columns: ColumnMap | None = None
    layout: FolderLayout | TableLayout | None = None
    note: str = ""


HF = "https://huggingface.co/datasets/"

CORPORA: dict[str, CorpusSpec] = {
    # Editing corpora (unlabeled; Stage II and annotation input).
    "anyedit": CorpusSpec(
        "parquet", False, HF + "Bin1117/AnyEdit (parquet, splits train / validation; columns as its dataset viewer "
        "serves them: image_file, edited_file, visual_input, edit_type, edit_instruction, input, output)",
        ColumnMap(source="image_file", edited="edited_file", instruction="edit_instruction", edit_type="edit_type"),
        note="image_file / edited_file / edit_instruction; edit_type (AnyEdit's own 25 types) kept as the category"),
    "crispedit": CorpusSpec(
        "parquet", False, "no dataset card lists the columns; the raw-shard readers of github.com/Tangent0308/"
        "sam3-crispedit (crispedit/prefilter/pair_runner.py) and yiyezhiqiu2077/editMGT (configs/data/schema)",
        ColumnMap(source="input_img", edited="output_img", instruction="instruction", edit_type="type"),
        note="CrispEdit-2M: <type>_<n>.parquet shards; input_img / output_img / instruction / type"),
    "omniedit": CorpusSpec(
        "parquet", False, HF + "TIGER-Lab/OmniEdit-Filtered-1.2M (data/train-*-of-00571.parquet, dev-*; its viewer "
        "rows: omni_edit_id, task, src_img, edited_img, edited_prompt_list, sc_score_1/2, pq_score, o_score)",
        ColumnMap(source="src_img", edited="edited_img", instruction="edited_prompt_list", id="omni_edit_id",
                  edit_type="task"),
        note="the first of edited_prompt_list is the instruction; task (addition, removal, swap, ...) the category"),
    "promptfix": CorpusSpec(
        "parquet", False, HF + "yeates/PromptfixData (card: input_img, processed_img, instruction, auxiliary_prompt, "
        "task_id; data/train-*)",
        ColumnMap(source="input_img", edited="processed_img", instruction="instruction", edit_type="task_id"),
        note="task_id kept as the category"),
    "ultraedit": CorpusSpec(
        "parquet", True, HF + "BleachNick/UltraEdit_Region_Based_100k (card: source_image, edited_image, mask_image, "
        "edit_prompt, edit_object, idx, clip/dinov2/ssim scores; split RegionBase, data/RegionBase-*)",
        ColumnMap(source="source_image", edited="edited_image", instruction="edit_prompt", mask="mask_image", id="idx"),
        note="region-based subset: mask_image is the editing region given to the inpainting editor"),
    # Stage I data (inpainting with exact masks).
    "brgen": CorpusSpec(
        "folders", True, "github.com/clpbc/BR-Gen README (the Tp/ Gt/ Au/ hierarchy of BRGen-Stuff-Val, which it "
        "says the train and test sets share)",
        layout=FolderLayout(edited_dir="Tp", mask_dir="Gt", source_dir="Au",
                            key_pattern=r"(?P<method>[^_]+)_(?P<category>[^_]+)_(?P<key>.+)",
                            mask_names="{stem}_mask", source_names="{key}"),
        note="Tp/<method>_<Stuff|Background>_<source>_<id>.png; the mask type is the category; no instructions"),
    # Evaluation sets (with masks).
    "cocoglide": CorpusSpec(
        "table", True, "TruFor's CocoGlide.zip (github.com/grip-unina/TruFor): README.txt, licenses.json, "
        "table.csv, real/, fake/, mask/, as inspected in the release (shared/design/sources.md, 2026-12-01)",
        layout=TableLayout(),
        note="pairs as table.csv lists them (512 rows); its prompt (the COCO class) is the instruction"),
    "autosplice": CorpusSpec(
        "folders", True, "github.com/shanface33/AutoSplice_Dataset README (JPEG-100/90/75 versions, masks, "
        "captions) and readers of the download (Forged_JPEG*/, Mask/<id>_mask.png, Authentic/, Caption/*.json)",
        layout=FolderLayout(edited_dir="Forged_JPEG100", mask_dir="Mask", source_dir="Authentic",
                            key_pattern=r"(?P<key>[^_]+)_.*", mask_names="{key}_mask", source_names="{key}",
                            caption_dir="Caption"),
        note="--layout edited_dir=Forged_JPEG90|Forged_JPEG75 for the other versions"),
    "magicbrush": CorpusSpec(
        "parquet", True, HF + "osunlp/MagicBrush (card: img_id str, turn_index int32, source_img, mask_img, "
        "instruction, target_img; data/train-*, data/dev-*)",
        ColumnMap(source="source_img", edited="target_img", instruction="instruction", mask="mask_img", id="img_id",
                  turn="turn_index"),
        note="mask_img is the region the editor was allowed to touch (a superset of the change)"),
    "deal300k": CorpusSpec(
        "folders", True, "github.com/ymhzyj/DEAL-300K README and repository (assets/examples, "
        "instructions/checkpoint-<N>_<split>_results.json)",
        layout=FolderLayout(edited_dir="test", source_dir="test", mask_dir="label", key_pattern=r"(?P<key>\d+)_qwen\d+",
                            mask_names="{stem}", source_names="{key}", instructions_glob="instructions/*.json"),
        note="<split>/ holds sources and edits, label/ the masks, instructions/ the repository's JSONs"),
    "opensdi": CorpusSpec(
        "opensdi", True, HF + "nebula/OpenSDI_test (card: key, image, mask, label 0 real / 1 fake; data/<sd15|sd2|"
        "sdxl|sd3|flux>-*; keys partial/<generator>/fake/<image>.jpg)",
        ColumnMap(source="image", edited="image", mask="mask", id="key"),
        note="partial (local) fakes paired with the real row of the same image name; no instructions"),
}

DataFormat = Literal["auto", "parquet", "webdataset"]  # auto: WebDataset where the root holds tar shards
FORMATS = get_args(DataFormat)


def canonical_name(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def corpus_spec(name: str) -> CorpusSpec:
    spec = CORPORA.get(canonical_name(name))
    if spec is None:
        raise BadInputError(f"unknown corpus '{name}'; known: {', '.join(CORPORA)}")
    return spec


def open_corpus(name: str, root: str | Path, columns: dict[str, str] | None = None,
                layout: dict[str, str] | None = None, data_format: DataFormat = "auto",
                part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    """Stream the samples of corpus `name` under `root` (this part of them, for parallel readers)."""
    spec = corpus_spec(name)
    if data_format not in FORMATS:
        raise BadInputError(f"unknown format '{data_format}'; choose from {', '.join(FORMATS)}")
    corpus = canonical_name(name)
    if spec.kind == "folders":
        return read_folders(root, spec.layout.with_overrides(layout or {}), corpus, part)
    if spec.kind == "table":
        return read_table(root, spec.layout.with_overrides(layout or {}), corpus, part)
    column_map = spec.columns.with_overrides(columns or {})
    if spec.kind == "opensdi":
        return read_opensdi(root, column_map, corpus, part=part)
    if data_format == "webdataset" or (data_format == "auto" and _has_tars(root)):
        return read_webdataset(root, column_map, corpus, part)
    return read_parquet(root, column_map, corpus, part)


def _has_tars(root: str | Path) -> bool:
    root = Path(root)
    if root.is_file():
        return root.suffix == ".tar"
    return root.is_dir() and next(root.rglob("*.tar"), None) is not None and next(root.rglob("*.parquet"), None) is None


__all__ = ["CORPORA", "Blob", "ColumnMap", "CorpusSample", "CorpusSpec", "FolderLayout", "TableLayout",
           "category_action", "corpus_spec", "open_corpus"]
