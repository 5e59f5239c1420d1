"""One pair as a corpus reader yields it: images still encoded (bytes) or on disk (path)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import BadInputError
from ..images import decode_rgb

# First bytes of the encodings the corpora use → the file suffix they are written with.
MAGIC_SUFFIXES = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"RIFF", ".webp"), (b"BM", ".bmp"),
                  (b"GIF8", ".gif"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


@dataclass
class Blob:
    """An encoded image: in-memory bytes (parquet, tar), a file on disk (folder layouts), or bytes
    fetched on first use (a row elsewhere in a parquet shard)."""

    data: bytes | None = None
    path: str | None = None
    loader: Callable[[], bytes] | None = None

    @classmethod
    def from_cell(cls, cell, base: Path | None = None) -> "Blob | None":
        """A parquet / `datasets` cell: {"bytes", "path"} struct, raw bytes, or a path string."""
        if cell is None:
            return None
        if isinstance(cell, dict):
            if cell.get("bytes"):
                return cls(data=cell["bytes"])
            cell = cell.get("path")
            if not cell:
                return None
        if isinstance(cell, (bytes, bytearray)):
            return cls(data=bytes(cell))
        if isinstance(cell, str):
            path = Path(cell)
            return cls(path=str(path if path.is_absolute() or base is None else base / path))
        raise BadInputError(f"unsupported image cell of type {type(cell).__name__}")

    def read(self) -> bytes:
        if self.data is None and self.loader is not None:
            self.data = self.loader()
        if self.data is not None:
            return self.data
        if not Path(self.path).is_file():
            raise BadInputError(f"file not found: {self.path}")
        return Path(self.path).read_bytes()

    def suffix(self) -> str:
        if self.path is not None:
            return Path(self.path).suffix.lower() or ".png"
        data = self.read()
        return next((suffix for magic, suffix in MAGIC_SUFFIXES if data.startswith(magic)), ".png")

    def decode(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB, read as every image is (EXIF orientation, 16-bit, size limits)."""
        return decode_rgb(self.read(), "image")


def check_override_names(config, overrides: dict, what: str) -> None:
    """Reject `--columns` / `--layout` names that are not fields of the reader's config dataclass."""
    known = {f.name for f in fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise BadInputError(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def binary_mask(rgb: np.ndarray) -> np.ndarray:
    """A corpus mask (H, W, 3) → (H, W) bool: grey > 127 is edited; 0/1-valued index masks count any non-zero."""
    grey = rgb.mean(axis=2)
    return grey > 0 if grey.max() <= 1 else grey > 127


@dataclass
class CorpusSample:
    id: str
    source: Blob
    edited: Blob
    instruction: str = ""
    mask: Blob | None = None
    edit_type: str | None = None  # the corpus's own category, as text (None when it has none)
    corpus: str | None = None
    where: str = ""  # shard and row, for error messages
    error: str | None = None  # what the reader found wrong (no source, no mask); raised by check()

    def check(self) -> tuple[tuple[int, int], tuple[int, int], np.ndarray | None]:
        """Decode every image once; a corrupt image or a mask of another size raises BadInputError.

        Returns (source size, edited size, mask) with sizes as (width, height).
        """
        if self.error:
            raise BadInputError(f"{self.where or self.id}: {self.error}")
        images = {}
        for role in ("source", "edited"):
            try:
                images[role] = getattr(self, role).decode()
            except BadInputError as err:
                raise BadInputError(f"{self.where or self.id}: {role} image: {err}") from None
        mask = None
        if self.mask is not None:
            try:
                mask_image = self.mask.decode()
            except BadInputError as err:
                raise BadInputError(f"{self.where or self.id}: mask: {err}") from None
            (mask_h, mask_w), (edited_h, edited_w) = mask_image.shape[:2], images["edited"].shape[:2]
            if (mask_h, mask_w) != (edited_h, edited_w):
                raise BadInputError(f"{self.where or self.id}: mask is {mask_w}×{mask_h} "
                                    f"but the edited image is {edited_w}×{edited_h}")
            mask = binary_mask(mask_image)
        (source_h, source_w), (edited_h, edited_w) = images["source"].shape[:2], images["edited"].shape[:2]
        return (source_w, source_h), (edited_w, edited_h), mask
