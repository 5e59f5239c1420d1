"""MTCL (Li et al., ESWA 2025) implemented from its paper; its public code has no licence file, so
none of it is used. Registered in IMDL-BenCo's MODELS as `MTCL` (see registry/)."""

from .model import MTCL, MTCLConfig

__all__ = ["MTCL", "MTCLConfig"]
