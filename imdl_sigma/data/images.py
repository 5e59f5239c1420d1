"""Image input/output with one clear error per bad file, and atomic writes.

Every image read is what an image viewer shows: its EXIF orientation applied, 16-bit and float
samples scaled to 8 bits (not clipped), as (H, W, 3) uint8 RGB. Its size is checked from the
header before any pixel is decoded: at most `MAX_PIXELS` (a limit of ours, which replaces PIL's
decompression-bomb check) and sides of at least `MIN_SIDE`.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadInputError
from .atomic import atomic_write_bytes

log = logging.getLogger(__name__)

ImageLike = "str | os.PathLike | Image.Image | np.ndarray"

# Width × height above which a file is refused unread: 2**28 = 16384 × 16384 px, 0.8 GB as 8-bit
# RGB. `benco annotate --max-image-pixels` raises it.
MAX_PIXELS = 2**28
# Shortest usable side (px): a 1-px row or column has no 2-D neighbourhood (the alignment's phase
# correlation, for one, needs two).
MIN_SIDE = 2
Image.MAX_IMAGE_PIXELS = None  # PIL's bomb check off: MAX_PIXELS is checked before decoding instead
WIDE_INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # 16-bit samples (mode I: in 32-bit ints)
SIXTEEN_TO_EIGHT_BITS = 8  # right shift: 65535 → 255, and v × 257 (8 bits stored as 16) → v


def check_size(width: int, height: int, what: str, max_pixels: int) -> None:
    """An image of width × height px is within MIN_SIDE and `max_pixels`, else BadInputError."""
    if min(width, height) < MIN_SIDE:
        raise BadInputError(f"{what} is {width}×{height} px; both sides must be at least {MIN_SIDE} px")
    if width * height > max_pixels:
        raise BadInputError(f"{what} is {width}×{height} = {width * height} px, over the limit of {max_pixels} px "
                            "(--max-image-pixels raises it)")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Samples of any depth → uint8: 16-bit ones scaled (their top 8 bits); others × 255 when all
    are in [0, 1] (floats, 0/1 masks), else taken as 0–255 levels and clipped."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array >> SIXTEEN_TO_EIGHT_BITS).astype(np.uint8)
    scale = 255.0 if array.size and array.max() <= 1.0 else 1.0
    return np.clip(array * scale, 0, 255).astype(np.uint8)


def pil_pixels(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels as uint8, RGB (3 channels) or grey (2-D); 16-bit greyscale (PNG, TIFF) and
    float images are scaled to 8 bits, where PIL's convert('RGB') would clip them to near white."""
    if image.mode in WIDE_INTEGER_MODES:
        return to_uint8(np.clip(np.asarray(image), 0, np.iinfo(np.uint16).max).astype(np.uint16))
    if image.mode == "F":
        return to_uint8(np.asarray(image))
    return np.asarray(image.convert("RGB"))


def read_image(file: str | os.PathLike | BinaryIO, what: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An encoded image (a path or a binary file) → uint8 pixels as shown: size checked from the
    header first, then decoded and turned as its EXIF orientation says."""
    named = f"{what} {file}" if isinstance(file, (str, os.PathLike)) else what
    try:
        with Image.open(file) as handle:
            check_size(*handle.size, named, max_pixels)
            ImageOps.exif_transpose(handle, in_place=True)  # no copy; nothing to do without a tag
            return pil_pixels(handle)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        if isinstance(file, (str, os.PathLike)):
            raise BadInputError(f"{what} is not a readable image: {file} ({err})") from None
        reason = str(err).replace(f" {file!r}", "")  # PIL names a file object by its repr
        raise BadInputError(f"not a readable image ({reason})") from None  # the caller names the bytes


def decode_rgb(data: bytes, what: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes (PNG, JPEG, ...) → (H, W, 3) uint8 RGB, read as `load_rgb` reads a file."""
    return load_rgb(read_image(io.BytesIO(data), what, max_pixels), what, max_pixels)


def load_rgb(image, what: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Path, PIL image or array → (H, W, 3) uint8 RGB (a path is read with `read_image`)."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise BadInputError(f"{what} file not found: {path}")
        image = read_image(path, what, max_pixels)
    array = pil_pixels(image) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise BadInputError(f"{what} array has shape {array.shape}; expected (H, W, 3)")
    check_size(array.shape[1], array.shape[0], what, max_pixels)
    return np.ascontiguousarray(to_uint8(array[..., :3]))


def match_size(source: np.ndarray, edited: np.ndarray, pair_id: str) -> np.ndarray:
    """A source of another size is resized (bilinear) to the edited image's size."""
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


def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, array: np.ndarray) -> None:
    atomic_write_bytes(path, encode_png(array))


def save_mask(path: str | Path, mask: np.ndarray) -> None:
    """8-bit 0/255 PNG (IMDL-BenCo binarises the mean of RGB at 127.5; 0/1 masks read as empty)."""
    save_png(path, (np.asarray(mask) > 0).astype(np.uint8) * 255)
