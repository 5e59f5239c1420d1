"""CAT-Net sees its input: the RGB tensor entering the network varies with the image (in CAT-Net's
[-1, 1] range) and its DCT volume and quantisation table are jpegio's, read from the file itself
(a JPEG) or from the one JPEG compression of a PNG at the configured quality."""

import jpegio
import numpy as np
import pytest
import torch
from PIL import Image

from downstream.catnet import CatNetDataset
from downstream.detectors import build_detector, detector_spec
from downstream.finetune import FinetuneConfig, benco_dataset
import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where the detectors are built)
from imdl_sigma.data.benco_datasets import write_json_dataset
from imdl_sigma.errors import BadInputError

SIZE = 64
DCT_BINS = 20  # Cat_Net's DCT volume: one channel per |coefficient| 0..19, the last for >= 20


def textured_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, SIZE)[None, :, None] * np.ones((SIZE, 1, 3))
    return np.clip(ramp * 0.6 + rng.normal(0, 40, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def dataset_files(tmp_path):
    """One JPEG (quality 80) and one PNG, each with a mask."""
    jpeg_path, png_path = tmp_path / "a.jpg", tmp_path / "b.png"
    Image.fromarray(textured_image(0)).save(jpeg_path, quality=80)
    Image.fromarray(textured_image(1)).save(png_path)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:40, 8:32] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    write_json_dataset(tmp_path / "dataset.json", [(jpeg_path, tmp_path / "m.png"), (png_path, tmp_path / "m.png")])
    return tmp_path


def jpegio_luma(path) -> tuple[np.ndarray, np.ndarray]:
    jpeg = jpegio.read(str(path))
    table = jpeg.quant_tables[jpeg.comp_info[0].quant_tbl_no]
    return np.array(jpeg.coef_arrays[0][:SIZE, :SIZE]), np.array(table, np.float32)


def network_inputs(model, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The tensors Cat_Net hands its HRNet: (B, 3 + 21, H, W) image+DCT volume and (B, 1, 8, 8) qtables."""
    seen = {}

    def keep(module, args):
        seen["x"], seen["qtable"] = args[0].detach(), args[1].detach()

    handle = model.model.register_forward_pre_hook(keep)
    try:
        model.eval()
        with torch.no_grad():
            model(**batch)
    finally:
        handle.remove()
    return seen["x"], seen["qtable"]


def test_cat_net_sees_the_image_and_the_files_dct(dataset_files, tmp_path):
    config = FinetuneConfig(image_size=SIZE, jpeg_quality=90)
    dataset = benco_dataset(dataset_files / "dataset.json", False, config, detector_spec("cat_net"))
    assert isinstance(dataset, CatNetDataset)
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    torch.manual_seed(0)
    model = build_detector("cat_net", input_size=SIZE, tiny=True)
    x, qtables = network_inputs(model, batch)
    rgb, volume = x[:, :3], x[:, 3:]

    # RGB: CAT-Net's (pixel - 127.5) / 127.5 of the decoded JPEG, varying over the image
    assert rgb.min() >= -1 and rgb.max() <= 1 and rgb.std(dim=(1, 2, 3)).min() > 0.2
    decoded = np.asarray(Image.open(dataset_files / "a.jpg").convert("RGB"), np.float32)
    assert torch.allclose(rgb[0], (torch.from_numpy(decoded).permute(2, 0, 1) - 127.5) / 127.5)

    # DCT: the JPEG file's own coefficients; the PNG's from one compression at jpeg_quality
    png_as_jpeg = tmp_path / "b_q90.jpg"
    Image.open(dataset_files / "b.png").convert("RGB").save(png_as_jpeg, format="JPEG", quality=90)
    for i, path in enumerate((dataset_files / "a.jpg", png_as_jpeg)):
        coefficients, table = jpegio_luma(path)
        assert volume.shape[1] == DCT_BINS + 1 and torch.all(volume[i].sum(0) == 1)  # one-hot per pixel
        magnitude = torch.from_numpy(np.minimum(np.abs(coefficients), DCT_BINS))
        assert torch.equal(volume[i].argmax(0), magnitude)
        assert torch.equal(qtables[i, 0], torch.from_numpy(table))
        assert torch.equal(batch["DCT_coef"][i], torch.from_numpy(coefficients).float())
    assert (magnitude > 0).float().mean() > 0.1  # a textured image has many non-zero coefficients


def test_cat_net_windows_stay_on_the_block_grid(dataset_files):
    """Training windows of a larger image start on the 8 × 8 grid; pixels, mask and DCT move together."""
    dataset = CatNetDataset([str(dataset_files / "a.jpg")], [str(dataset_files / "m.png")], 32, train=True,
                            jpeg_quality=90)
    coefficients, _ = jpegio_luma(dataset_files / "a.jpg")
    mask = np.asarray(Image.open(dataset_files / "m.png")) > 127
    torch.manual_seed(0)
    corners = set()
    for _ in range(12):
        item = dataset[0]
        dct = item["DCT_coef"].numpy()
        matches = [(t, l) for t in range(0, SIZE - 31, 8) for l in range(0, SIZE - 31, 8)
                   if np.array_equal(dct, coefficients[t:t + 32, l:l + 32])]
        assert len(matches) == 1
        top, left = matches[0]
        assert np.array_equal(item["mask"][0].numpy() > 0.5, mask[top:top + 32, left:left + 32])
        corners.add(matches[0])
    assert len(corners) > 1


def test_cat_net_input_size_must_be_on_the_block_grid(dataset_files):
    with pytest.raises(BadInputError, match="multiple of 8"):
        CatNetDataset([str(dataset_files / "a.jpg")], ["Negative"], 60, train=False, jpeg_quality=90)
