"""Rule-based parser on the paper's Appendix B and the project's 65-instruction set."""

import json
from pathlib import Path

import pytest

from imdl_sigma.grounding.llm_parser import validate_answer
from imdl_sigma.grounding.parser import parse_instruction
from imdl_sigma.grounding.rules import ACTIONS, parse_rules

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "instructions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[c["instruction"][:40] for c in CASES])
def test_rules_parse_every_instruction(case):
    parsed = parse_rules(case["instruction"])
    assert (parsed["original"], parsed["edited"], parsed["action"]) == (case["original"], case["edited"], case["action"])
    assert parsed["source"] == "rules"


def test_set_covers_every_corpus_style_and_action():
    assert len(CASES) >= 60
    assert {c["style"] for c in CASES} >= {"paper", "magicbrush", "anyedit", "omniedit", "promptfix"}
    assert {c["action"] for c in CASES} == set(ACTIONS)


@pytest.mark.parametrize("text", ["", "   ", "asdf qwerty", "!!!"])
def test_unparseable_is_global(text):
    assert parse_rules(text)["action"] == "global"


def test_public_api_and_bad_backend():
    assert parse_instruction("remove the cat") == parse_rules("remove the cat")
    with pytest.raises(ValueError):
        parse_instruction("remove the cat", backend="magic")


@pytest.mark.parametrize("answer, expected", [
    ('{"original concept":"cat","edited concept":"dog","action type":"replace"}',
     {"original": "cat", "edited": "dog", "action": "replace", "source": "llm"}),
    ('{"original concept":"null","edited concept":"a bird","action type":"add"}',
     {"original": None, "edited": "a bird", "action": "add", "source": "llm"}),
    ('{"original concept":null,"edited concept":"null","action type":"global"}',
     {"original": None, "edited": None, "action": "global", "source": "llm"}),
    ('```json {"original concept":"cat"} ```', None),
    ('{"original concept":"cat","edited concept":"dog","action type":"swap"}', None),
    ('{"original concept":"cat","edited concept":"dog"}', None),
    ('{"original concept":"cat","edited concept":"dog","action type":"replace","x":1}', None),
    ('{"a":1} {"b":2}', None),
    ('[1, 2]', None),
])
def test_llm_answer_validation(answer, expected):
    assert validate_answer(answer) == expected
