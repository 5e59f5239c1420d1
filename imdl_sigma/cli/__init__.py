"""`benco`: IMDL-BenCo's command, extended with SIGMA's subcommands (one module each; `main`
assembles them)."""

from .main import main

__all__ = ["main"]
