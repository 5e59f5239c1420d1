"""`benco annotate`: masks for every pair of editing corpora, written as an IMDL-BenCo dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import JobFailedError
from .flags import ConfigFlags, add_options, given_options, signature_options
from .options import (add_grounding_flags, add_learned_checkpoints, add_parser_flags, check_backbone_weights,
                      grounding_config, method_checkpoints)

HELP = "masks for every pair of editing corpora, as an IMDL-BenCo dataset"
OPTIONS = ("resume", "extend", "skip_bad", "device")


def annotate_flags() -> tuple[ConfigFlags, ConfigFlags]:
    from ..annotation.annotate import AnnotateConfig, FilterConfig

    return (ConfigFlags(AnnotateConfig, skip=("parser",)),
            ConfigFlags(FilterConfig, flags={"action": "filter"}, helps={
                "action": "drop pairs that fail a quality filter, or keep them flagged in the manifest"}))


def add_arguments(parser) -> None:
    from ..annotation.annotate import annotate

    parser.add_argument("--pairs", action="append", help="pairs manifest (repeatable)")
    parser.add_argument("--corpus", action="append", metavar="NAME[=ROOT]",
                        help="stream a corpus as published (see `benco corpus list`; repeatable); ROOT defaults "
                             "to the folder registered under NAME")
    parser.add_argument("--out", required=True, help="output dataset folder")
    parser.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    add_learned_checkpoints(parser, "--method is")
    parser.add_argument("--name", help="register the dataset under this name (e.g. sigma_1m)")
    add_options(parser, signature_options(annotate, OPTIONS, {
        "resume": "continue a killed run with the same manifests; finished pairs are skipped",
        "extend": "continue the run in --out with manifests or corpora that did not feed it yet, adding "
                  "their pairs to its dataset (a --resume with other inputs is refused)",
        "skip_bad": "skip bad manifest lines instead of stopping"}))
    add_parser_flags(parser)
    parser.add_argument("--backbone-weights", help="DINOv2 weights for checkpoints of the base config")
    parser.add_argument("--intent-cache", help="`benco ground` cache folder to read intent maps from")
    job, filters = annotate_flags()
    job.add(parser.add_argument_group("job (AnnotateConfig)"))
    filters.add(parser.add_argument_group("quality filters (FilterConfig)"))
    add_grounding_flags(parser)


def run(args) -> int:
    from ..annotation.annotate import annotate
    from ..data.dataset_names import load_registry, resolve_dataset

    if args.name:
        load_registry()  # a registry that cannot be read fails now, not after the whole job
    job, filters = annotate_flags()
    config = job.build(args, parser=args.parser, filters=filters.build(args))
    if args.backbone_weights:
        from ..config import SigmaConfig
        from ..model.checkpoint import load_checkpoint

        payload = load_checkpoint(args.checkpoint, architecture="SIGMA")
        check_backbone_weights(SigmaConfig.from_dict(payload["config"]), args.backbone_weights,
                               f"checkpoint {args.checkpoint or 'the bundled stand-in'}")
    corpora = {}
    for item in args.corpus or []:
        corpus_name, _, root = item.partition("=")
        corpora[corpus_name] = root or str(resolve_dataset(corpus_name))
    checkpoint = method_checkpoints(args).get(config.method, args.checkpoint)  # PixDiff refuses one
    stats = annotate(args.pairs or [], args.out, corpora=corpora, checkpoint=checkpoint, name=args.name,
                     config=config, backbone_weights=args.backbone_weights, parser_weights=args.parser_weights,
                     grounding=grounding_config(args, required=False), intent_cache=args.intent_cache,
                     **given_options(args, OPTIONS))
    if stats:
        print(json.dumps({k: stats[k] for k in ("pairs", "kept", "errors", "dropped", "pairs_per_second")}))
        report_annotation(stats, Path(args.out))
    return 0


def report_annotation(stats: dict, out: Path) -> None:
    """Partial failure: the count and the errors file on stderr; nothing done: JobFailedError."""
    failed, total = stats["errors"], stats["errors"] + stats["pairs"]
    errors_file = out / "errors.jsonl"
    if stats["pairs"] == 0:
        from ..data.jsonl import read_jsonl

        first = next(iter(read_jsonl(errors_file)), {}).get("error", "")
        raise JobFailedError(f"all {failed} pairs failed (first: {first}); every error is in {errors_file}")
    if stats["kept"] == 0:
        raise JobFailedError(f"no pair kept: the quality filters dropped all {stats['pairs']} "
                             f"({json.dumps(stats['dropped'])}), so {out / 'dataset.json'} is empty; "
                             "--filter flag keeps them, flagged")
    if failed:
        print(f"benco annotate: {failed} of {total} pairs failed; they are listed in {errors_file}",
              file=sys.stderr)
