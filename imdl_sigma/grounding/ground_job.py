"""`benco ground`: parse + intent map for every pair once, batched and resumable.

Grounding maps do not depend on SIGMA's weights (spec §3), so they are computed once and read
by training (`SigmaPairDataset(intent_cache=...)`) and annotation (`--intent-cache`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import InstructionConfig
from ..data.datasets import match_size
from ..data.images import load_rgb
from ..data.pairs import load_pairs, pair_key
from ..errors import BadInputError
from .acsf import with_corpus_actions
from .cache import ParseCache, parse_many
from .intent import DEFAULT_MAP_SIZE, IntentCache, intent_maps


def ground_pairs(manifests: list[str], cache_dir: str, grounder, parser: str = "rules", llm=None,
                 batch_size: int = 8, epsilon: float = InstructionConfig.epsilon, map_size: int = DEFAULT_MAP_SIZE,
                 skip_bad: bool = False, progress: bool = True) -> dict:
    from tqdm import tqdm

    cache = IntentCache(cache_dir)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    parse_cache = ParseCache(Path(cache_dir) / "parses.jsonl")
    pairs = load_pairs(manifests, skip_bad)
    todo = [p for p in pairs if not cache.has(p)]
    errors = 0
    bar = tqdm(total=len(pairs), initial=len(pairs) - len(todo), desc="ground", unit="pair", disable=not progress)
    with (Path(cache_dir) / "errors.jsonl").open("a") as error_log:
        for start in range(0, len(todo), batch_size):
            batch, images = [], []
            for pair in todo[start:start + batch_size]:
                try:
                    edited = load_rgb(pair.edited, "edited image")
                    images.append((match_size(load_rgb(pair.source, "source image"), edited, pair.id), edited))
                    batch.append(pair)
                except BadInputError as err:
                    errors += 1
                    error_log.write(json.dumps({"key": pair_key(pair), "error": str(err)}) + "\n")
            if batch:
                parses = parse_many([p.instruction for p in batch], parser, parse_cache, llm)
                parses = with_corpus_actions(parses, batch)  # a corpus category may name the action
                maps = intent_maps(grounder, parses, [s for s, _ in images], [e for _, e in images], epsilon, map_size)
                for pair, intent in zip(batch, maps):
                    cache.save(pair, intent)
            bar.update(len(todo[start:start + batch_size]))
    bar.close()
    return {"pairs": len(pairs), "grounded": len(todo) - errors, "cached_before": len(pairs) - len(todo),
            "errors": errors}
