"""Writers for IMDL-BenCo's dataset layouts.

* JsonDataset: one JSON list of `[image_path, mask_path | "Negative"]`.
* ManiDataset: `ROOT/Tp/` images and `ROOT/Gt/` masks, paired by *sorted position* (IMDL-BenCo
  does not match names), so both are written under the same stem with the same `.png` suffix.
  ManiDataset has no authentic ("Negative") samples.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .images import atomic_write_bytes, load_rgb, save_png


def write_json_dataset(path: str | Path, entries: list[tuple[str, str | None]]) -> None:
    """`entries`: (image path, mask path, or None for an authentic image)."""
    dataset = [[str(image), str(mask) if mask else "Negative"] for image, mask in entries]
    atomic_write_bytes(path, json.dumps(dataset, indent=1).encode())


def write_mani_dataset(root: str | Path, entries: list[tuple[str, str, str]]) -> None:
    """`entries`: (stem, image path, mask path). Images are re-encoded as PNG so that the sorted
    Tp/ and Gt/ listings line up whatever the source formats were."""
    root = Path(root)
    stems = [stem for stem, _, _ in entries]
    if len(set(stems)) != len(stems):
        raise ValueError("ManiDataset stems must be unique")
    for stem, image, mask in entries:
        save_png(root / "Tp" / f"{stem}.png", load_rgb(image))
        target = root / "Gt" / f"{stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mask, target)
