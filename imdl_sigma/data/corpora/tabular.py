"""Row-shaped corpora: Hugging Face parquet shards and WebDataset tars, read as streams.

A parquet corpus is read row group by row group (`pyarrow.ParquetFile.iter_batches`), never
whole; a WebDataset tar is read member by member in stream mode. Both yield rows as dicts, so one
`ColumnMap` says where the source, edited image, instruction and mask are: parquet column names,
or the member extensions of a tar sample (`src.jpg`, `edited.png`; keys of a `.json` member too).
`part=(rank, world)` splits the work by row group / tar file, for several readers in parallel.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

from ...errors import BadInputError
from .sample import Blob, CorpusSample, check_override_names


@dataclass(frozen=True)
class ColumnMap:
    source: str
    edited: str
    instruction: str | None = None  # a string column, or a list of strings (the first is used)
    mask: str | None = None
    id: str | None = None  # None: "<shard stem>-<row>"
    turn: str | None = None  # appended to the id (MagicBrush's turn_index)
    edit_type: str | None = None  # the corpus's own category column, kept as text (manifest `edit_type`)

    def columns(self) -> list[str]:
        return [value for value in (getattr(self, f.name) for f in fields(self)) if value]

    def with_overrides(self, overrides: dict[str, str]) -> "ColumnMap":
        check_override_names(self, overrides, "column role")
        return replace(self, **{key: (value or None) for key, value in overrides.items()})


def category_text(value) -> str | None:
    """A corpus's own category cell, kept as text (None when empty)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def first_text(value) -> str:
    if isinstance(value, (list, tuple)):
        value = next((item for item in value if isinstance(item, str) and item.strip()), "")
    return value.strip() if isinstance(value, str) else ""


def sample_from_row(row: dict, columns: ColumnMap, default_id: str, corpus: str, where: str,
                    base: Path | None = None) -> CorpusSample:
    pair_id = str(row[columns.id]) if columns.id and row.get(columns.id) is not None else default_id
    if columns.turn and row.get(columns.turn) is not None:
        pair_id = f"{pair_id}_{row[columns.turn]}"
    source, edited = Blob.from_cell(row.get(columns.source), base), Blob.from_cell(row.get(columns.edited), base)
    missing = [role for role, blob in (("source", source), ("edited", edited)) if blob is None]
    return CorpusSample(
        id=pair_id, source=source or Blob(data=b""), edited=edited or Blob(data=b""),
        error=f"empty {' and '.join(missing)} image" if missing else None,
        instruction=first_text(row.get(columns.instruction)) if columns.instruction else "",
        mask=Blob.from_cell(row.get(columns.mask), base) if columns.mask else None,
        edit_type=category_text(row.get(columns.edit_type)) if columns.edit_type else None,
        corpus=corpus, where=where,
    )


def find_files(root: str | Path, suffix: str) -> list[Path]:
    root = Path(root)
    if root.is_file() and root.suffix == suffix:
        return [root]
    if not root.is_dir():
        raise BadInputError(f"corpus root not found: {root}")
    files = sorted(p for p in root.rglob(f"*{suffix}") if not p.name.startswith("."))
    if not files:
        raise BadInputError(f"no {suffix} files under {root}")
    return files


# ---- parquet -----------------------------------------------------------------------------

def open_parquet(path: Path, columns: list[str]):
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise BadInputError(f"{path}: not a readable parquet file ({err})") from None
    available = set(handle.schema_arrow.names)
    missing = [name for name in columns if name not in available]
    if missing:
        raise BadInputError(f"{path}: no column(s) {', '.join(missing)}; it has {', '.join(sorted(available))} "
                            "(map the roles with --columns ROLE=COLUMN)")
    return handle


def row_groups(files: list[Path], columns: list[str], part: tuple[int, int]) -> Iterator[tuple[Path, object, int]]:
    """(file, ParquetFile, row group index) of this part: row groups are dealt round-robin."""
    rank, world = part
    ordinal = 0
    for path in files:
        handle = open_parquet(path, columns)
        for group in range(handle.num_row_groups):
            if ordinal % world == rank:
                yield path, handle, group
            ordinal += 1


def iter_parquet_rows(root: str | Path, columns: list[str], part: tuple[int, int] = (0, 1),
                      batch_rows: int = 16) -> Iterator[tuple[Path, int, dict]]:
    """(file, row index in the file, row) for every row of this part, a few rows in memory at a time."""
    for path, handle, group in row_groups(find_files(root, ".parquet"), columns, part):
        row = sum(handle.metadata.row_group(g).num_rows for g in range(group))
        for batch in handle.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
            for record in batch.to_pylist():
                yield path, row, record
                row += 1


def read_parquet(root: str | Path, columns: ColumnMap, corpus: str,
                 part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    for path, row, record in iter_parquet_rows(root, columns.columns(), part):
        yield sample_from_row(record, columns, f"{path.stem}-{row:06d}", corpus, f"{path.name} row {row}",
                              base=path.parent)


# ---- WebDataset --------------------------------------------------------------------------

def iter_tar_samples(path: Path) -> Iterator[tuple[str, dict]]:
    """(key, {extension: bytes}) per sample; a `.json` member's keys are merged in."""
    key, sample = None, {}
    try:
        with tarfile.open(path, "r|*") as stream:
            for member in stream:
                if not member.isfile():
                    continue
                folder, _, name = member.name.rpartition("/")
                stem, dot, extension = name.partition(".")
                if not dot:
                    continue
                member_key = f"{folder}/{stem}" if folder else stem
                if member_key != key:
                    if sample:
                        yield key, sample
                    key, sample = member_key, {}
                data = stream.extractfile(member).read()
                if extension == "json":
                    sample.update(json.loads(data))
                elif extension in ("txt", "text", "instruction"):
                    sample[extension] = data.decode("utf-8").strip()
                else:
                    sample[extension] = data
    except (tarfile.TarError, OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInputError(f"{path}: damaged WebDataset shard ({err})") from None
    if sample:
        yield key, sample


def read_webdataset(root: str | Path, columns: ColumnMap, corpus: str,
                    part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    rank, world = part
    for index, path in enumerate(find_files(root, ".tar")):
        if index % world != rank:
            continue
        for key, sample in iter_tar_samples(path):
            default_id = key.rpartition("/")[2]
            yield sample_from_row(sample, columns, default_id, corpus, f"{path.name} sample {key}")


# ---- OpenSDI: real and locally edited rows of one table, paired by image name -------------

def opensdi_key_parts(key: str) -> tuple[str, str, str]:
    """`partial/sd15/fake/000651821.jpg` → ("partial", "sd15", "000651821"): kind, generator, image."""
    parts = str(key).split("/")
    generator = parts[1] if len(parts) > 2 else ""
    return parts[0], generator, Path(parts[-1]).stem


class RowFetcher:
    """Bytes of one image cell anywhere in a parquet corpus; the last row group read is kept."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.cached: tuple = (None, None, None)  # (file, row group, its first row) and the table below
        self.table = None

    def __call__(self, path: Path, row: int) -> bytes:
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(path)
        start = 0
        for group in range(handle.num_row_groups):
            rows = handle.metadata.row_group(group).num_rows
            if row < start + rows:
                break
            start += rows
        if self.cached != (path, group, start):
            self.table = handle.read_row_group(group, columns=[self.column])
            self.cached = (path, group, start)
        return Blob.from_cell(self.table.column(self.column)[row - start].as_py()).read()


def read_opensdi(root: str | Path, columns: ColumnMap, corpus: str, label: str = "label", fake_label: int = 1,
                 local_kind: str = "partial", part: tuple[int, int] = (0, 1)) -> Iterator[CorpusSample]:
    """Each locally edited fake row (label 1, key `partial/...`, with its mask) paired with the real
    row (label 0) of the same image name, of the same generator split where there is one.

    Whole-image fakes (`entire/...`) and real rows are not pairs and are not yielded. A first pass
    reads only the key and label columns; fakes without a real row are reported as bad samples.
    """
    key = columns.id
    real_rows = {}
    for path, row, record in iter_parquet_rows(root, [key, label]):
        if record[label] != fake_label:
            _, generator, name = opensdi_key_parts(record[key])
            real_rows.setdefault((generator, name), (path, row))
            real_rows.setdefault(("", name), (path, row))
    fetch = RowFetcher(columns.source)
    wanted = sorted({key, label, columns.edited, *([columns.mask] if columns.mask else [])})
    for path, row, record in iter_parquet_rows(root, wanted, part):
        kind, generator, name = opensdi_key_parts(record[key])
        if record[label] != fake_label or kind != local_kind:
            continue
        real = real_rows.get((generator, name)) or real_rows.get(("", name))
        yield CorpusSample(
            id=str(record[key]), edited=Blob.from_cell(record[columns.edited]) or Blob(data=b""),
            source=Blob(loader=lambda real=real: fetch(*real)) if real else Blob(data=b""),
            mask=Blob.from_cell(record.get(columns.mask)) if columns.mask else None, edit_type=kind,
            corpus=corpus, where=f"{path.name} row {row}",
            error=None if real else f"no real row of image {name!r} to pair {record[key]!r} with",
        )
