"""Dataset names → roots, so that `--data NAME` works (e.g. `--data sigma_1m`).

One JSON file maps names to folders: `$IMDL_SIGMA_DATASETS` if set, else
`~/.config/imdl_sigma/datasets.json`. `benco annotate --name NAME` registers its output there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import BadInputError
from .atomic import atomic_write_bytes


def registry_path() -> Path:
    env = os.environ.get("IMDL_SIGMA_DATASETS")
    return Path(env) if env else Path.home() / ".config" / "imdl_sigma" / "datasets.json"


def load_registry() -> dict[str, str]:
    path = registry_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise BadInputError(f"dataset registry {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadInputError(f"dataset registry {path} must map names to folders")
    return data


def register_dataset(name: str, root: str | Path) -> None:
    data = load_registry()
    data[name] = str(Path(root).resolve())
    atomic_write_bytes(registry_path(), json.dumps(data, indent=2, sort_keys=True).encode())


def resolve_dataset(name_or_path: str) -> Path:
    """A registered name, or an existing path."""
    path = Path(name_or_path)
    if path.exists():
        return path
    data = load_registry()
    if name_or_path in data:
        return Path(data[name_or_path])
    known = ", ".join(sorted(data)) or "none registered"
    raise BadInputError(f"unknown dataset '{name_or_path}' (not a path; registered: {known}; "
                        f"registry file {registry_path()})")
