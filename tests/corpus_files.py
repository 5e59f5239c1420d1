"""Files the corpus reader tests write: images, masks, parquet shards with the cards' types."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from imdl_sigma.data.corpora.export import export_corpus
from imdl_sigma.data.manifest import read_manifest

SIZE = (40, 32)  # width, height
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # a `datasets` Image feature in parquet


def encoded(seed: int, fmt: str = "PNG", size=SIZE) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def mask_bytes(seed: int, values=(0, 255), size=SIZE) -> bytes:
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[seed % 10: seed % 10 + 8, 4:20] = values[1]
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")
    return buffer.getvalue()


def expected_mask(seed: int) -> np.ndarray:
    mask = np.zeros((SIZE[1], SIZE[0]), bool)
    mask[seed % 10: seed % 10 + 8, 4:20] = True
    return mask


def image_cell(data: bytes | None) -> dict | None:
    return None if data is None else {"bytes": data, "path": None}


def write_parquet(path, schema: list[tuple[str, pa.DataType]], rows: list[dict], row_group_size: int = 2) -> None:
    """A shard with the card's column types (images as {bytes, path} structs, ClassLabel as int64)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=pa.schema(schema))
    pq.write_table(table, path, row_group_size=row_group_size)


def export(name, root, tmp_path, **kwargs):
    out = tmp_path / f"{name}_out"
    counts = export_corpus(name, root, out, progress=False, **kwargs)
    return counts, read_manifest(out / "pairs.jsonl"), out


def read_bytes(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
