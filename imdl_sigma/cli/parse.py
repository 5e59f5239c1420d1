"""`benco parse`: editing instructions → (original, edited, action), one JSON object per line."""

from __future__ import annotations

import json

from .options import add_parser_flags

HELP = "parse an editing instruction into (original, edited, action)"


def add_arguments(parser) -> None:
    parser.add_argument("instruction", nargs="+", help="one or more instructions; one JSON object per line out")
    add_parser_flags(parser, "--backend")
    parser.add_argument("--cache", help="JSON Lines parse cache to read and extend")


def run(args) -> int:
    from ..grounding.cache import ParseCache, parse_many
    from ..grounding.parser import build_parser

    cache = ParseCache(args.cache) if args.cache else None
    for parsed in parse_many(args.instruction, build_parser(args.backend, args.parser_weights), cache):
        print(json.dumps(parsed, ensure_ascii=False))
    return 0
