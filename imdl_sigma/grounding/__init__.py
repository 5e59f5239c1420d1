"""Instruction-grounding branch (paper Sec. 3.2.2): the instruction parsers (rules, LLM), LangSAM
grounding, ACSF, the intent maps per pair and their caches, and the `benco ground` job."""
