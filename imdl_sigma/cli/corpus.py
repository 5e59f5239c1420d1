"""`benco corpus`: editing corpora and evaluation sets read as published; manifests exported."""

from __future__ import annotations

import json
from pathlib import Path

from .flags import add_options, given_options, parse_pairs, signature_options

HELP = "read editing corpora / evaluation sets as published; export manifests"
EXPORT_OPTIONS = ("limit", "skip_bad")


def add_arguments(parser) -> None:
    from ..data.corpora.export import export_corpus

    actions = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    actions.add_parser("list", help="the corpora this version reads, their layout and columns")
    export = actions.add_parser("export", help="stream a corpus into a pairs manifest (resumable)")
    export.add_argument("name", help="corpus name (see `benco corpus list`)")
    export.add_argument("--root", help="where the corpus lies (parquet / tar shards or folders); default: the "
                        "folder registered under NAME (`benco corpus register`)")
    export.add_argument("--out", required=True, help="output folder: pairs.jsonl, images/, masks/")
    export.add_argument("--columns", action="append", metavar="ROLE=COLUMN",
                        help="map a role (source, edited, instruction, mask, id, turn, edit_type) to a column")
    export.add_argument("--layout", action="append", metavar="FIELD=VALUE",
                        help="folder layouts: e.g. edited_dir=Forged_JPEG90, source_dir=val")
    add_options(export, signature_options(export_corpus, ("data_format", *EXPORT_OPTIONS), {
        "limit": "stop after this many pairs", "skip_bad": "log bad pairs to export_errors.jsonl and go on"}),
        flags={"data_format": "format"})
    register = actions.add_parser("register", help="map a dataset name to a folder (what --data NAME resolves)")
    register.add_argument("name")
    register.add_argument("path")
    actions.add_parser("registered", help="the registered dataset names and folders")


def run(args) -> int:
    from ..data.corpora import CORPORA

    if args.corpus_command == "list":
        for name, spec in CORPORA.items():
            print(f"{name:11s} {spec.kind:13s} {'masks' if spec.labeled else 'no masks':9s} {spec.note}")
        return 0
    from ..data.dataset_names import load_registry, register_dataset, resolve_dataset

    if args.corpus_command == "register":
        register_dataset(args.name, args.path)
        return 0
    if args.corpus_command == "registered":
        for name, root in sorted(load_registry().items()):
            print(f"{name:16s} {root}")
        return 0
    from ..data.corpora.export import export_corpus

    root = args.root or resolve_dataset(args.name)
    counts = export_corpus(args.name, root, args.out, columns=parse_pairs(args.columns, "--columns"),
                           layout=parse_pairs(args.layout, "--layout"),
                           **given_options(args, ("data_format", *EXPORT_OPTIONS), {"data_format": "format"}))
    print(json.dumps(counts))
    print(Path(args.out) / "pairs.jsonl")
    return 0
