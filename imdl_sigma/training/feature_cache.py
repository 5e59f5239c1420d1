"""`--cache-features`: the frozen backbone's three-level features, stored once per pair (fp16).

The backbone is frozen, so its features of a given image never change: epochs after the first
read them from disk and run only the SIGMA head. Features are of the whole image resized to the
input size, so random crops and flips are off while the cache is used (the trade-off is stated in
`benco train --help`). The cache folder is keyed by a fingerprint of the backbone's architecture,
input size, levels and normalisation and of the content of its weights (not their folder); a
different backbone never reads another's features.
DINOv2-B at 518 px: 3 × 768 × 37 × 37 × 2 bytes ≈ 6.3 MB per image, 12.6 MB per pair.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from ..data.atomic import atomic_write_bytes
from ..errors import SigmaError


def backbone_fingerprint(net) -> str:
    """What the features depend on: the backbone's architecture, levels, input size and
    normalisation, and the content of every weight (names, shapes, dtypes, bytes) — never where
    the weights were read from, so identical weights in a moved folder share one cache and a
    backbone with other weights (a random one differs per seed) never reads another's."""
    backbone_config = net.config.backbone
    digest = hashlib.sha256(json.dumps({
        "kind": backbone_config.kind, "arch": backbone_config.arch, "layers": list(backbone_config.layers),
        "size": backbone_config.image_size, "levels": list(net.level_indices),
        "mean": list(backbone_config.mean), "std": list(backbone_config.std),
    }, sort_keys=True).encode())
    for name, tensor in sorted(net.backbone.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]


def require_frozen_backbone(config) -> None:
    """Features can be cached only when `config` (a SigmaConfig) keeps its backbone frozen."""
    if not config.backbone.freeze:
        raise SigmaError("--cache-features needs a frozen backbone (backbone.freeze=true); this config trains "
                         "its backbone, so its features change every step")


class FeatureCache:
    def __init__(self, folder: str | Path, net) -> None:
        require_frozen_backbone(net.config)
        self.folder = Path(folder) / backbone_fingerprint(net)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0

    def path(self, pair_id: str) -> Path:
        return self.folder / f"{hashlib.sha1(pair_id.encode()).hexdigest()[:20]}.pt"

    def _load(self, pair_id: str) -> tuple[list, list] | None:
        path = self.path(pair_id)
        if not path.is_file():
            return None
        try:
            stored = torch.load(path, map_location="cpu")
        except Exception:  # a torn file from a killed run: recompute it
            return None
        return stored["source"], stored["edited"]

    def _store(self, pair_id: str, source: list, edited: list) -> None:
        buffer = io.BytesIO()
        torch.save({"source": [f.half().cpu() for f in source], "edited": [f.half().cpu() for f in edited]}, buffer)
        atomic_write_bytes(self.path(pair_id), buffer.getvalue())

    @torch.no_grad()
    def features(self, net, names: list[str], source: torch.Tensor, edited: torch.Tensor) -> tuple[list, list]:
        """Per-level (source, edited) features of a batch, (B, C, h, w) float32 each, from disk where
        stored, else from the backbone (then stored)."""
        per_pair = [self._load(name) for name in names]
        missing = [i for i, stored in enumerate(per_pair) if stored is None]
        self.hits += len(names) - len(missing)
        self.misses += len(missing)
        if missing:
            index = torch.tensor(missing, device=source.device)
            source_feats, edited_feats = net.encode(source[index], edited[index])
            for row, i in enumerate(missing):
                # Rounded to fp16 like stored features, so a pair gives the same input every epoch.
                per_pair[i] = ([f[row].half() for f in source_feats], [f[row].half() for f in edited_feats])
                self._store(names[i], *per_pair[i])
        levels = len(per_pair[0][0])
        device = source.device
        stack = [[torch.stack([pair[side][level] for pair in per_pair]).to(device).float() for level in range(levels)]
                 for side in (0, 1)]
        return stack[0], stack[1]
