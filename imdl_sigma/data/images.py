"""Image input/output with one clear error per bad file, and atomic writes."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import BadInputError

log = logging.getLogger(__name__)

ImageLike = "str | os.PathLike | Image.Image | np.ndarray"


def load_rgb(image, what: str = "image") -> np.ndarray:
    """Path, PIL image or array → (H, W, 3) uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise BadInputError(f"{what} file not found: {path}")
        try:
            with Image.open(path) as handle:
                image = handle.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise BadInputError(f"{what} is not a readable image: {path} ({err})") from None
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise BadInputError(f"{what} array has shape {array.shape}; expected (H, W, 3)")
    if array.dtype != np.uint8:
        scale = 255.0 if array.max() <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


def match_size(source: np.ndarray, edited: np.ndarray, pair_id: str) -> np.ndarray:
    """Spec §1: a source of another size is resized (bilinear) to the edited image's size."""
    if source.shape[:2] == edited.shape[:2]:
        return source
    log.info("pair %s: source %s resized to edited %s", pair_id, source.shape[:2], edited.shape[:2])
    return cv2.resize(source, (edited.shape[1], edited.shape[0]), interpolation=cv2.INTER_LINEAR)


def load_pair(source, edited, pair_id: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """A pair's two images (paths, PIL images or arrays) as (H, W, 3) uint8 RGB, the source at
    the edited image's size."""
    edited = load_rgb(edited, "edited image")
    return match_size(load_rgb(source, "source image"), edited, pair_id), edited


def load_pair_batch(sources: list, editeds: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`load_pair` over a batch of images given as paths, PIL images or arrays: (sources, editeds)."""
    loaded = [load_pair(source, edited) for source, edited in zip(sources, editeds)]
    return [source for source, _ in loaded], [edited for _, edited in loaded]


def load_mask(path, what: str = "mask") -> np.ndarray:
    """Any 8-bit image → (H, W) bool, edited where the grey value is > 127."""
    grey = load_rgb(path, what).mean(axis=2)
    return grey > 127


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_png(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, array: np.ndarray) -> None:
    atomic_write_bytes(path, encode_png(array))


def save_mask(path: str | Path, mask: np.ndarray) -> None:
    """8-bit 0/255 PNG (IMDL-BenCo binarises the mean of RGB at 127.5; 0/1 masks read as empty)."""
    save_png(path, (np.asarray(mask) > 0).astype(np.uint8) * 255)
