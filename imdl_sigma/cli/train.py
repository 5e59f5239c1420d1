"""`benco train`: the SIGMA annotator (Stage I / Stage II), or a learned baseline of Table 1."""

from __future__ import annotations

from ..errors import BadInputError
from .flags import ConfigFlags, add_set_flag, overrides
from .options import add_grounding_flags, check_backbone_weights, check_weights_source, grounding_config

HELP = "train the SIGMA annotator (Stage I / Stage II)"


def train_flags() -> ConfigFlags:
    from ..training.loop import TrainConfig

    return ConfigFlags(TrainConfig)


def stage2_flags() -> ConfigFlags:
    from ..training.stage2 import Stage2Config

    return ConfigFlags(Stage2Config, skip=("epochs",))  # --epochs is TrainConfig's


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="sigma",
                        help="sigma (default), or a learned baseline of Table 1: ddpm-unet (DDPM-CD's DDPM "
                             "pretraining on the pairs' images), ddpm-cd, meta-cd")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1)
    parser.add_argument("--pairs", required=True, help="training pairs manifest (JSON Lines)")
    parser.add_argument("--val-pairs", help="validation pairs manifest, scored every epoch")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, TensorBoard logs")
    parser.add_argument("--config", help="preset or config JSON; SIGMA: base (default), base_random, tiny, standin; "
                                         "ddpm-unet/ddpm-cd: ddpm_cd (default), ddpm_cd_small, ddpm_cd_tiny; "
                                         "meta-cd: meta_cd (default), meta_cd_small, meta_cd_tiny")
    add_set_flag(parser, "difference.num_blocks=4 (a field of the model's config)")
    parser.add_argument("--backbone-weights",
                        help="pretrained weights: SIGMA's DINOv2 (local directory or Hugging Face id in the cache); "
                             "ddpm-cd's DDPM UNet (a ddpm-unet checkpoint or diffusers UNet2DModel folder); "
                             "meta-cd's foundation encoder (a local timm weights file)")
    parser.add_argument("--resume", help="checkpoint to continue from (optimizer and step included)")
    parser.add_argument("--intent-cache", help="`benco ground` cache; without it the intent map is the ε prior")
    parser.add_argument("--cache-features", metavar="DIR",
                        help="Stage I: store the frozen backbone's features per pair (fp16) and reuse them in later "
                             "epochs; random crops/flips are off with it (features are of the whole image)")
    parser.add_argument("--init", help="start from this checkpoint's weights (fresh optimizer and step); "
                        "Stage II: the Stage I checkpoint to adapt")
    train_flags().add(parser.add_argument_group("optimisation (TrainConfig)"))
    stage2 = parser.add_argument_group("Stage II (--stage 2; Stage2Config)")
    stage2.add_argument("--unlabeled-pairs", action="append", help="editing pairs without masks (repeatable)")
    stage2.add_argument("--vae", help="Stable Diffusion VAE folder (SD 1.5 or SDXL, the corpus's editor's)")
    stage2_flags().add(stage2)
    add_grounding_flags(parser)


def run(args) -> int:
    from ..baselines import LEARNED_BASELINES

    model = args.model.lower()
    if model != "sigma" and model not in LEARNED_BASELINES:
        raise BadInputError(f"benco train trains the annotator (--model sigma) or a learned baseline "
                            f"({', '.join(LEARNED_BASELINES)}); got '{args.model}'. Detectors are trained with "
                            "`benco finetune`")
    if model in LEARNED_BASELINES:
        print(train_learned_baseline(model, args))
    else:
        print(train_sigma(args))
    return 0


def sigma_config(args):
    from ..config import SigmaConfig

    config = SigmaConfig.resolve(args.config or "base").with_overrides(overrides(args))
    if args.backbone_weights:
        check_backbone_weights(config, args.backbone_weights, f"config '{args.config or 'base'}'")
        config.use_backbone_weights(args.backbone_weights)
    return config


def train_sigma(args):
    config = sigma_config(args)
    grounding = grounding_config(args, required=False)
    grounder = None
    if grounding is not None:
        from ..grounding.grounder import LangSAMGrounder

        if not args.intent_cache:
            raise BadInputError("grounding while training needs --intent-cache DIR to store the maps it computes")
        grounder = LangSAMGrounder.load(grounding)
    common = dict(val_pairs=args.val_pairs, resume=args.resume, intent_cache=args.intent_cache, grounder=grounder,
                  init=args.init)
    if args.stage == 1:
        from ..training.stage1 import train_stage1

        return train_stage1(args.pairs, args.out, config, train_flags().build(args),
                            cache_features=args.cache_features, **common)
    from ..training.stage2 import train_stage2

    if args.cache_features:
        raise BadInputError("--cache-features is for Stage I (Stage II feeds VAE roundtrips made on the fly)")
    stage2 = stage2_flags().build(args)
    train_config = train_flags().build(args, **({} if args.epochs is not None else {"epochs": stage2.epochs}))
    return train_stage2(args.pairs, args.unlabeled_pairs or [], args.out, config, train_config, stage2, args.vae, **common)


def train_learned_baseline(name: str, args):
    from ..baselines.train import resolve_baseline_config, train_baseline

    if args.stage != 1 or args.cache_features or args.intent_cache or args.unlabeled_pairs:
        raise BadInputError(f"--model {name} trains on Stage I pairs only (no --stage 2, --cache-features, "
                            "--intent-cache or --unlabeled-pairs)")
    config = resolve_baseline_config(name, args.config or "", overrides(args), args.backbone_weights)
    if args.backbone_weights:
        check_weights_source(args.backbone_weights, "--backbone-weights")
    return train_baseline(name, args.pairs, args.out, config, train_flags().build(args), val_pairs=args.val_pairs,
                          resume=args.resume, init=args.init)
