"""Instruction-grounding branch: parser, grounding, ACSF, caches."""
