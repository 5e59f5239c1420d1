"""The instruction parser as an object: `RuleParser` (offline default) or `LLMParser`, chosen
once from `--parser` / `--backend` and handed to the Annotator, the annotation job and
`ground_pairs`. Parses are cached by the parser's `name` (grounding/cache.py)."""

from __future__ import annotations

from typing import Protocol

from .rules import RULES

BACKENDS = ("rules", "llm")


class InstructionParser(Protocol):
    name: str  # "rules" or "llm": the backend recorded with (and keying the cache of) each parse

    def parse(self, instructions: list[str]) -> list[dict]:
        """One {"original", "edited", "action", "source"} dict per instruction."""
        ...


def build_parser(backend: str = "rules", weights: str | None = None, **kwargs) -> InstructionParser:
    """`backend` "rules", or "llm" with the LLM's `weights` (None: Qwen2.5-0.5B, else SmolLM2)."""
    if backend == "rules":
        return RULES
    if backend == "llm":
        from .llm_parser import LLMParser

        return LLMParser.default(weights, **kwargs)
    raise ValueError(f"unknown parser backend '{backend}' ({' or '.join(BACKENDS)})")


def parse_instruction(text: str, backend: str = "rules", **kwargs) -> dict:
    """Parse with the rules (offline default) or an LLM (`backend="llm"`, see llm_parser)."""
    return build_parser(backend, **kwargs).parse([text])[0]
