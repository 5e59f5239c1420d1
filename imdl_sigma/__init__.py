"""imdl-sigma: the SIGMA edit-mask annotator as an IMDL-BenCo plugin."""

__version__ = "0.1.0"

from .config import SigmaConfig  # noqa: E402


def __getattr__(name: str):
    # Heavy entry points are imported on first use so `import imdl_sigma` stays light.
    if name == "Annotator":
        from .inference.annotator import Annotator

        return Annotator
    if name == "parse_instruction":
        from .grounding.parser import parse_instruction

        return parse_instruction
    raise AttributeError(name)


__all__ = ["Annotator", "SigmaConfig", "parse_instruction", "__version__"]
