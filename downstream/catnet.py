"""CAT-Net with the input it was designed for, on any machine.

Two defects of IMDL-BenCo 0.1.45's CAT-Net as shipped, worked around here (IMDL-BenCo is not edited):
- CUDA only: `Cat_Net` calls `.cuda()` on its loss in `__init__` and on its DCT volume in `forward`.
  `CatNetLocal` runs both with those calls answered by the object itself when CUDA is absent (on a
  GPU nothing changes); the state dict is Cat_Net's, so checkpoints interchange.
- The network never sees the image: IMDL-BenCo's datasets emit ImageNet-normalised floats, which
  `Cat_Net` rescales as if they were 0-255 pixels (RGB input ≈ −1.00 everywhere), and
  `cat_net_post_func` casts that normalised tensor to uint8 and re-saves it as a JPEG, so its "DCT
  coefficients" are those of a near-constant image. `CatNetDataset` replaces both: it reads each
  image file itself, takes the Y-channel DCT coefficients and quantisation table with jpegio from
  the JPEG file (a non-JPEG file is compressed once, at `jpeg_quality`, and that JPEG is what the
  network sees: its decoded pixels and its coefficients), and emits the RGB pixels as 0-255 floats,
  the range `Cat_Net` maps to [−1, 1].

Geometry: resizing or flipping would break the 8 × 8 block grid the DCT stream reads, so, as in
CAT-Net's own pipeline, images are neither resized nor augmented: the network takes an
`image_size` window whose corner lies on the block grid (random in training, centred in testing),
zero-padded where the image is smaller. Images of exactly `image_size` are seen whole.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from IMDLBenCo.model_zoo.cat_net.cat_net import Cat_Net
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from imdl_sigma.data.images import load_mask, load_rgb
from imdl_sigma.errors import BadInputError

BLOCK = 8  # JPEG block size: window corners and sizes lie on this grid
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


@contextlib.contextmanager
def cuda_calls_skipped():
    if torch.cuda.is_available():
        yield
        return
    module_cuda, tensor_cuda = nn.Module.cuda, torch.Tensor.cuda
    nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        nn.Module.cuda, torch.Tensor.cuda = module_cuda, tensor_cuda


class CatNetLocal(Cat_Net):
    def __init__(self, cfg_file: str) -> None:
        with cuda_calls_skipped():
            super().__init__(cfg_file)

    def forward(self, *args, **kwargs):
        with cuda_calls_skipped():
            return super().forward(*args, **kwargs)


@dataclass(frozen=True)
class JpegInput:
    rgb: np.ndarray  # (H, W, 3) uint8: the JPEG's decoded pixels
    dct: np.ndarray  # (H, W) int32: Y-channel quantised DCT coefficients, block (i, j) at [8i:8i+8, 8j:8j+8]
    qtable: np.ndarray  # (8, 8) float32: the Y channel's quantisation table


def jpeg_bytes(path: str | Path, quality: int) -> bytes:
    """The file itself when it is a JPEG; otherwise its pixels compressed once at `quality`."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"image file not found: {path}")
    data = path.read_bytes()
    if data[:2] == b"\xff\xd8":  # JPEG start-of-image marker, whatever the suffix
        return data
    rgb = Image.fromarray(load_rgb(path))  # as every image is read: EXIF orientation, 16-bit samples
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def read_jpeg(data: bytes) -> JpegInput:
    """Decoded pixels, Y coefficients and Y quantisation table of one JPEG (jpegio reads files only)."""
    import jpegio

    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
    handle, name = tempfile.mkstemp(suffix=".jpg")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        jpeg = jpegio.read(name)
    finally:
        os.unlink(name)
    height, width = rgb.shape[:2]
    luma = jpeg.comp_info[0]
    # copies: jpegio's arrays live in memory its object frees; the coefficient arrays are block-padded
    dct = np.array(jpeg.coef_arrays[0][:height, :width], dtype=np.int32)
    qtable = np.array(jpeg.quant_tables[luma.quant_tbl_no], dtype=np.float32)
    return JpegInput(rgb, dct, qtable)


def window_corner(length: int, size: int, rng: np.random.Generator | None) -> int:
    """Corner of a `size` window along an axis of `length`, on the block grid: random (rng) or centred."""
    blocks = max(0, (length - size) // BLOCK)
    return BLOCK * (int(rng.integers(0, blocks + 1)) if rng is not None else blocks // 2)


def take_window(array: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """`size` × `size` window of `array` (H, W, ...) at (top, left), zero-padded past its edges."""
    window = np.zeros((size, size) + array.shape[2:], array.dtype)
    part = array[top:top + size, left:left + size]
    window[:part.shape[0], :part.shape[1]] = part
    return window


class CatNetDataset(Dataset):
    """CAT-Net's input for the images and masks of an IMDL-BenCo dataset (its `tp_path`/`gt_path`).

    Items: image (3, S, S) float 0-255, mask (1, S, S) 0/1, DCT_coef (S, S) float (integer values),
    qtables (8, 8), label, shape, name — what `Cat_Net.forward` takes."""

    def __init__(self, images: list[str], masks: list[str], image_size: int, train: bool, jpeg_quality: int) -> None:
        if image_size % BLOCK:
            raise BadInputError(f"CAT-Net's input size must be a multiple of {BLOCK}; got {image_size}")
        self.images, self.masks = list(images), list(masks)
        self.image_size, self.train, self.jpeg_quality = image_size, train, jpeg_quality

    @classmethod
    def wrapping(cls, dataset, image_size: int, train: bool, jpeg_quality: int) -> "CatNetDataset":
        """From an IMDL-BenCo dataset (JsonDataset / ManiDataset): its file lists, none of its transforms."""
        return cls(dataset.tp_path, dataset.gt_path, image_size, train, jpeg_quality)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        path, mask_path = self.images[index], self.masks[index]
        jpeg = read_jpeg(jpeg_bytes(path, self.jpeg_quality))
        height, width = jpeg.dct.shape
        if mask_path == "Negative":
            mask = np.zeros((height, width), bool)
        else:
            mask = load_mask(mask_path)
            if mask.shape != (height, width):
                raise BadInputError(f"{mask_path}: mask {mask.shape} and image {(height, width)} differ in size")
        # torch's generator: seeded by torch.manual_seed, and per epoch and worker by the DataLoader
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()))) if self.train else None
        size = self.image_size
        top, left = window_corner(height, size, rng), window_corner(width, size, rng)
        rgb = take_window(jpeg.rgb, top, left, size)
        mask = take_window(mask, top, left, size)
        return {
            "image": torch.from_numpy(rgb).permute(2, 0, 1).float(),  # 0-255: Cat_Net maps it to [-1, 1]
            "mask": torch.from_numpy(mask).float()[None],
            "DCT_coef": torch.from_numpy(take_window(jpeg.dct, top, left, size)).float(),
            "qtables": torch.from_numpy(jpeg.qtable),
            "label": int(mask.any()),
            "shape": torch.tensor([size, size]),
            "name": Path(path).name,
        }
