"""Stable Diffusion VAE roundtrip x̃ = Dec(Enc(x)): the noise a latent-diffusion editor leaves on
every pixel, edited or not. Used by `benco synth --vae` and by Stage II's calibration loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MissingWeightsError


def load_vae(name_or_path: str, device: str | torch.device = "cpu"):
    """diffusers AutoencoderKL from a local folder (a VAE folder, or a whole SD pipeline with `vae/`)
    or the Hugging Face cache; never downloads."""
    from diffusers import AutoencoderKL

    path = Path(name_or_path)
    subfolder = "vae" if (path / "vae" / "config.json").is_file() else None
    try:
        vae = AutoencoderKL.from_pretrained(name_or_path, subfolder=subfolder, local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as err:
        raise MissingWeightsError(
            f"Stable Diffusion VAE not found at '{name_or_path}' ({err.__class__.__name__}). Download one where "
            "there is internet, e.g. `huggingface-cli download stabilityai/sd-vae-ft-mse --local-dir DIR` "
            "(SD 1.5) or `madebyollama/sdxl-vae-fp16-fix` (SDXL), then pass --vae DIR."
        ) from None
    return vae.to(device).eval().requires_grad_(False)


class VaeRoundtrip:
    """Encode then decode (the latent mean, deterministic), at a size the VAE accepts."""

    def __init__(self, vae) -> None:
        self.vae = vae
        self.multiple = 2 ** (len(vae.config.block_out_channels) - 1)  # the VAE's spatial down-sampling

    @classmethod
    def from_path(cls, name_or_path: str, device: str | torch.device = "cpu") -> "VaeRoundtrip":
        return cls(load_vae(name_or_path, device))

    @torch.no_grad()
    def tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] → its roundtrip, same shape and range."""
        height, width = images.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        x = F.pad(images * 2 - 1, (0, pad_w, 0, pad_h), mode="replicate")
        param = next(self.vae.parameters())
        latents = self.vae.encode(x.to(param.device, param.dtype)).latent_dist.mean
        decoded = self.vae.decode(latents).sample.float().to(images.device)
        return ((decoded[..., :height, :width] + 1) / 2).clamp(0, 1)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → its roundtrip, uint8."""
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        out = self.tensor(x)[0].permute(1, 2, 0).numpy()
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
