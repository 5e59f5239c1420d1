"""What the command line shows of its dependencies: their warnings and import-time prints are
held back unless `--verbose`; our own messages go through logging and stay."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import io
import os
import sys
import warnings
from typing import Iterator

# Modules that print when imported (IMDL-BenCo's training utilities print torch's version).
NOISY_MODULES = ("IMDLBenCo.training_scripts.utils.misc",)


class _HeldStdoutLoader(importlib.abc.Loader):
    """Runs a module's top-level code with stdout held; everything else is the wrapped loader's."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class QuietImports(importlib.abc.MetaPathFinder):
    """Finds `names` as usual, but imports them with stdout held."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = set(names)

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HeldStdoutLoader(spec.loader)
        return spec


@contextlib.contextmanager
def quiet_dependencies(enabled: bool = True) -> Iterator[None]:
    """While the block runs, hide dependencies' FutureWarnings / deprecation notes (also in the
    worker processes it starts) and the prints of NOISY_MODULES; all is restored after it."""
    if not enabled:
        yield
        return
    variables = {"PYTHONWARNINGS": "ignore", "TRANSFORMERS_VERBOSITY": "error", "DIFFUSERS_VERBOSITY": "error"}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: value for name, value in variables.items() if saved[name] is None})
    finder = QuietImports(NOISY_MODULES)
    sys.meta_path.insert(0, finder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.meta_path.remove(finder)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def one_line(message: str) -> str:
    """A message as one line of stderr (multi-line messages joined with '; ')."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
