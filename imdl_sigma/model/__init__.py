"""The SIGMA network, one module per part."""

from .sigma import SIGMA, SigmaNet, SigmaOutput

__all__ = ["SIGMA", "SigmaNet", "SigmaOutput"]
