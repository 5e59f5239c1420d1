"""`benco ground`: parse + intent map for every pair once, batched and resumable.

Grounding maps do not depend on SIGMA's weights (paper Sec. 3.2.2, eq. 7-8), so they are computed once, before
any DataLoader, and read by training (`SigmaPairDataset(intent_cache=...)`; a trainer given
grounding weights fills the cache's misses here first) and annotation (`--intent-cache`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..config import InstructionConfig
from ..data.pairs import load_pairs, pair_key
from ..errors import BadInputError
from .acsf import with_corpus_actions
from .cache import ParseCache, parse_many
from .intent import DEFAULT_MAP_SIZE, IntentCache, intent_maps
from .parser import InstructionParser
from .rules import RULES


def fill_intent_cache(pairs: list, cache: IntentCache, grounder, parser: InstructionParser = RULES,
                      batch_size: int = 8, epsilon: float = InstructionConfig.epsilon, map_size: int = DEFAULT_MAP_SIZE,
                      on_error: Callable[[str, str], None] | None = None, progress: bool = True) -> dict:
    """Ground every pair missing from `cache` and save its map; parses are cached beside the maps
    (`parses.jsonl`). An unreadable pair goes to `on_error(key, message)` (raised without one)."""
    from tqdm import tqdm

    cache.root.mkdir(parents=True, exist_ok=True)
    parse_cache = ParseCache(cache.root / "parses.jsonl")
    todo = [p for p in pairs if not cache.has(p)]
    errors = 0
    bar = tqdm(total=len(pairs), initial=len(pairs) - len(todo), desc="ground", unit="pair", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch, images = [], []
        for pair in todo[start:start + batch_size]:
            try:
                images.append(pair.load_images())
                batch.append(pair)
            except BadInputError as err:
                if on_error is None:
                    raise
                errors += 1
                on_error(pair_key(pair), str(err))
        if batch:
            parses = parse_many([p.instruction for p in batch], parser, parse_cache)
            parses = with_corpus_actions(parses, batch)  # a corpus category may name the action
            maps = intent_maps(grounder, parses, [s for s, _ in images], [e for _, e in images], epsilon, map_size)
            for pair, intent in zip(batch, maps):
                cache.save(pair, intent)
        bar.update(len(todo[start:start + batch_size]))
    bar.close()
    return {"pairs": len(pairs), "grounded": len(todo) - errors, "cached_before": len(pairs) - len(todo),
            "errors": errors}


def ground_pairs(manifests: list[str], cache_dir: str, grounder, parser: InstructionParser = RULES,
                 batch_size: int = 8, epsilon: float = InstructionConfig.epsilon, map_size: int = DEFAULT_MAP_SIZE,
                 skip_bad: bool = False, progress: bool = True) -> dict:
    """The pairs of `manifests` into the intent cache `cache_dir`; unreadable pairs are listed
    in `cache_dir/errors.jsonl`."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with (Path(cache_dir) / "errors.jsonl").open("a") as error_log:
        def logged(key: str, message: str) -> None:
            error_log.write(json.dumps({"key": key, "error": message}) + "\n")

        return fill_intent_cache(load_pairs(manifests, skip_bad), IntentCache(cache_dir), grounder, parser,
                                 batch_size, epsilon, map_size, on_error=logged, progress=progress)
