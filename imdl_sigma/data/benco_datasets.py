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
from typing import Iterable

from .atomic import atomic_open
from .images import load_rgb, save_png


def write_json_dataset(path: str | Path, entries: Iterable[tuple[str, str | None]]) -> None:
    """`entries` (streamed: any iterable): (image path, mask path, or None for an authentic image);
    one entry a line."""
    with atomic_open(path) as handle:
        handle.write(b"[")
        for number, (image, mask) in enumerate(entries):
            entry = json.dumps([str(image), str(mask) if mask else "Negative"])
            handle.write(("\n" if number == 0 else ",\n").encode() + entry.encode())
        handle.write(b"\n]\n")


def write_mani_dataset(root: str | Path, entries: Iterable[tuple[str, str, str]]) -> None:
    """`entries` (streamed: any iterable): (stem, image path, mask path). Images are re-encoded as
    PNG so that the sorted Tp/ and Gt/ listings line up whatever the source formats were."""
    root = Path(root)
    stems: set[str] = set()
    for stem, image, mask in entries:
        if stem in stems:
            raise ValueError(f"ManiDataset stems must be unique: '{stem}' twice")
        stems.add(stem)
        save_png(root / "Tp" / f"{stem}.png", load_rgb(image))
        target = root / "Gt" / f"{stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mask, target)
