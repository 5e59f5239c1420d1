import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A randomly initialised SIGMA at the `tiny` preset, saved as a checkpoint."""
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = SigmaConfig.preset("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, SigmaNet(config), config, stage=0)
    return path


@pytest.fixture(scope="session")
def synth_pairs(tmp_path_factory):
    """A dozen synthetic pairs from the photos bundled with scikit-image / scikit-learn."""
    from imdl_sigma.synth.generator import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("synth")
    return synthesize(out, 12, seed=3, config=SynthConfig(size=96), progress=False)


@pytest.fixture(scope="session")
def tiny_vae_dir(tmp_path_factory):
    """A randomly initialised diffusers AutoencoderKL (the SD VAE's class), saved like a real one."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16),
                        layers_per_block=1, latent_channels=4, norm_num_groups=4, sample_size=32)
    folder = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def baseline_checkpoints(tmp_path_factory):
    """A randomly initialised checkpoint of every scored learned baseline, at its tiny preset."""
    from imdl_sigma.baselines import LEARNED_BASELINES
    from imdl_sigma.methods import LEARNED_METHODS
    from imdl_sigma.model.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("baselines")
    tiny = {"ddpm-cd": "ddpm_cd_tiny", "meta-cd": "meta_cd_tiny"}
    paths = {}
    for method in LEARNED_METHODS[1:]:
        spec = LEARNED_BASELINES[method]
        config = spec.model_class.config_class.resolve(tiny[method])
        if hasattr(config, "freeze_unet"):
            config.freeze_unet = False
        torch.manual_seed(0)
        model = spec.model_class(config=config)
        paths[method] = root / f"{method}.pt"
        save_checkpoint(paths[method], model.net, model.config, architecture=spec.architecture)
    return paths
