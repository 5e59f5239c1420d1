"""Every image read is the image as a viewer shows it: EXIF orientation applied, 16-bit and float
samples scaled to 8 bits, the size checked from the header before any pixel is decoded."""

import numpy as np
import pytest
from image_files import png_header_only
from PIL import Image

from imdl_sigma.data.corpora.sample import Blob
from imdl_sigma.data.images import MAX_PIXELS, decode_rgb, load_mask, load_rgb
from imdl_sigma.errors import BadInputError

ORIENTATION = 0x0112
# EXIF orientation → the transpose that stores a displayed image so that a viewer, applying the
# orientation, shows it upright again.
STORED_AS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
             2: Image.Transpose.FLIP_LEFT_RIGHT}


def displayed() -> np.ndarray:
    """A 20 × 30 RGB image with no symmetry: any wrong turn or flip changes it."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def save_oriented(path, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(displayed()).transpose(STORED_AS[orientation]).save(path, exif=exif)


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_exif_orientation_is_applied(tmp_path, orientation):
    path = tmp_path / "stored.png"
    save_oriented(path, orientation)
    assert np.array_equal(load_rgb(path), displayed())
    assert np.array_equal(decode_rgb(path.read_bytes()), displayed())  # corpus bytes read the same way


def test_a_mask_is_oriented_too(tmp_path):
    path = tmp_path / "mask.png"
    mask = np.zeros((20, 30), np.uint8)
    mask[:5, :10] = 255  # top-left corner as displayed
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(mask).transpose(STORED_AS[6]).save(path, exif=exif)
    assert np.array_equal(load_mask(path), mask > 0)


def greys() -> np.ndarray:
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


@pytest.mark.parametrize("write", [
    lambda path: Image.fromarray(greys().astype(np.uint16) * 257).save(path / "g.png"),  # 16-bit PNG
    lambda path: Image.fromarray(greys().astype(np.float32) / 255).save(path / "g.tif"),  # float TIFF in [0, 1]
], ids=["16-bit PNG", "32-bit float TIFF"])
def test_wide_samples_are_scaled_to_8_bits(tmp_path, write):
    write(tmp_path)
    (path,) = tmp_path.iterdir()
    rgb = load_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (16, 16, 3)
    assert np.abs(rgb[..., 0].astype(int) - greys()).max() <= 1  # float: truncation may lose one level
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_16_bit_arrays_are_scaled_and_0_1_arrays_stretched():
    assert load_rgb(np.full((4, 4), 65535, np.uint16)).max() == 255
    assert load_rgb(np.full((4, 4), 32896, np.uint16))[0, 0, 0] == 128
    assert load_rgb(np.ones((4, 4), np.int64))[0, 0, 0] == 255


@pytest.mark.parametrize("width, height, message", [
    (1, 40, "is 1×40 px; both sides must be at least 2 px"),
    (40, 1, "is 40×1 px; both sides must be at least 2 px"),
    (20000, 20000, f"20000×20000 = 400000000 px, over the limit of {MAX_PIXELS} px"),
])
def test_sizes_are_checked_from_the_header(tmp_path, width, height, message):
    path = tmp_path / "header.png"
    path.write_bytes(png_header_only(width, height))
    with pytest.raises(BadInputError, match=message.replace("(", r"\(")) as raised:
        load_rgb(path, "edited image")
    assert str(raised.value).startswith("edited image")


def test_pil_refuses_nothing_within_our_limit(tmp_path):
    path = tmp_path / "large.png"
    path.write_bytes(png_header_only(15000, 15000))  # 225 M px: over twice PIL's default 89.5 M px
    with Image.open(path) as image:  # where PIL's decompression-bomb check runs (from the header)
        assert image.size == (15000, 15000)
    assert 15000 * 15000 <= MAX_PIXELS


def test_the_pixel_limit_can_be_raised_and_lowered(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(displayed()).save(path)
    with pytest.raises(BadInputError, match="30×20 = 600 px, over the limit of 599 px"):
        load_rgb(path, max_pixels=599)
    assert load_rgb(path, max_pixels=600).shape == (20, 30, 3)


def test_a_corpus_blob_names_no_file_object_in_its_error():
    with pytest.raises(BadInputError) as raised:
        Blob(data=b"not an image").decode()
    assert str(raised.value).startswith("not a readable image (cannot identify image file)")
