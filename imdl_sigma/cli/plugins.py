"""The modules that fill IMDL-BenCo's MODELS before `benco train`, `benco finetune` and `benco bench
detectors` build a model by name: imdl-sigma's own `registry` package, then every entry point of the
`benco.plugins` group (an installed package declares one, e.g. `entry_points={"benco.plugins":
["mine = mypkg.models"]}`), then every `--plugin MODULE` (`benco train`). Loaded by name here, so
nothing under imdl_sigma imports `registry`."""

from __future__ import annotations

from functools import partial
from importlib import import_module
from importlib.metadata import entry_points

from ..errors import BadInputError

OWN_REGISTRY = "registry"  # the top-level package registering imdl-sigma's models
PLUGIN_GROUP = "benco.plugins"


def add_plugin_flag(parser) -> None:
    parser.add_argument("--plugin", action="append", metavar="MODULE",
                        help="a Python module to import before the model is built: it registers its models in "
                             f"IMDL-BenCo's MODELS (repeatable; installed packages' entry points of the group "
                             f"'{PLUGIN_GROUP}' are imported too)")


def load_plugins(modules: list[str] | None = None) -> None:
    """Import `registry`, the entry points of PLUGIN_GROUP, then `modules` (import paths)."""
    import_module(OWN_REGISTRY)
    loaders = [(f"plugin '{entry.name}' ({entry.value}, entry point group {PLUGIN_GROUP})", entry.load)
               for entry in entry_points(group=PLUGIN_GROUP)]
    loaders += [(f"--plugin {module}", partial(import_module, module)) for module in modules or []]
    for plugin, load in loaders:
        try:
            load()
        except ImportError as err:
            raise BadInputError(f"{plugin} cannot be imported: {err}") from None
