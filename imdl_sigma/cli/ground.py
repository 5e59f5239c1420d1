"""`benco ground`: the parse and intent map of every pair, once, into a cache for train / annotate."""

from __future__ import annotations

import json

from .flags import add_options, given_options, signature_options
from .options import add_grounding_flags, add_parser_flags, grounding_config

HELP = "parse + intent map for every pair once (cache for train/annotate)"
OPTIONS = ("batch_size", "epsilon", "map_size", "skip_bad")


def add_arguments(parser) -> None:
    from ..grounding.ground_job import ground_pairs
    from ..grounding.grounder import LangSAMGrounder

    parser.add_argument("--pairs", action="append", required=True, help="pairs manifest (repeatable)")
    parser.add_argument("--out", required=True, help="cache folder")
    add_parser_flags(parser)
    add_options(parser, signature_options(ground_pairs, OPTIONS, {
        "batch_size": "images per grounding call", "epsilon": "ε of the concept maps",
        "map_size": "side of the cached intent map", "skip_bad": "skip bad manifest lines instead of stopping"}))
    add_options(parser, signature_options(LangSAMGrounder.load, ("device",), {}))
    add_grounding_flags(parser)


def run(args) -> int:
    from ..grounding.grounder import LangSAMGrounder
    from ..grounding.ground_job import ground_pairs
    from ..grounding.parser import build_parser

    grounder = LangSAMGrounder.load(grounding_config(args, required=True), **given_options(args, ("device",)))
    parser = build_parser(args.parser, args.parser_weights)
    print(json.dumps(ground_pairs(args.pairs, args.out, grounder, parser, **given_options(args, OPTIONS))))
    return 0
