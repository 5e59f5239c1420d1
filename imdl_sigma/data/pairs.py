"""Pairs of several manifests as one job sees them: each keyed by corpus and id, once.

A pair's corpus is its own field or, failing that, the name of its manifest's folder; the key
`corpus/id` names it in annotation records, error logs and the grounding cache.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInputError
from .manifest import Pair, read_manifest


def corpus_key(corpus: str | None, pair_id: str) -> str:
    return f"{corpus or ''}/{pair_id}"


def pair_key(pair: Pair) -> str:
    return corpus_key(pair.corpus, pair.id)


def load_pairs(manifests: list[str], skip_bad: bool) -> list[Pair]:
    pairs, seen = [], set()
    for manifest in manifests:
        corpus = Path(manifest).parent.name
        listed = read_manifest(manifest, skip_bad=skip_bad, check_files=False)
        if not listed:
            raise BadInputError(f"{manifest}: no pair in it; a manifest lists one JSON object per "
                                "pair, one a line (README, 'Pairs manifest')")
        for pair in listed:
            pair.corpus = pair.corpus or corpus
            if pair_key(pair) in seen:
                raise BadInputError(f"pair {pair_key(pair)} appears in more than one manifest")
            seen.add(pair_key(pair))
            pairs.append(pair)
    return pairs
