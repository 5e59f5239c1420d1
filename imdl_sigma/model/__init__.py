"""The SIGMA network, one module per part (paper Sec. 3.2); its losses (losses.py), its checkpoints
(checkpoint.py), and models by their name in IMDL-BenCo's MODELS (registered.py)."""

from .sigma import SIGMA, SigmaNet, SigmaOutput

__all__ = ["SIGMA", "SigmaNet", "SigmaOutput"]
