"""`benco train`: a model built by its name in IMDL-BenCo's MODELS (cli/plugins.py fills it): the SIGMA
annotator (Stage I / Stage II), a learned baseline of Table 1, or a plugin's pair model."""

from __future__ import annotations

from ..errors import BadInputError
from .flags import ConfigFlags, add_set_flag, overrides
from .options import add_grounding_flags, check_backbone_weights, check_weights_source, grounding_config
from .plugins import add_plugin_flag, load_plugins

HELP = "train the SIGMA annotator (Stage I / Stage II), a learned baseline or a plugin's model"


def train_flags() -> ConfigFlags:
    from ..training.loop import TrainConfig

    return ConfigFlags(TrainConfig)


def stage2_flags() -> ConfigFlags:
    from ..training.stage2 import Stage2Config

    return ConfigFlags(Stage2Config, skip=("epochs",))  # --epochs is TrainConfig's


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="sigma",
                        help="the model, by its name in IMDL-BenCo's MODELS after `registry` and the plugins are "
                             "imported: sigma (default; SIGMA or a registered subclass of it: Stage I / II), a "
                             "learned baseline of Table 1: ddpm-unet (DDPM-CD's DDPM pretraining on the pairs' "
                             "images), ddpm-cd, meta-cd; or any registered pair model (a `config_class` and "
                             "ChangeModel's contract, imdl_sigma/training/stage1.py), trained on Stage I pairs")
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
    add_plugin_flag(parser)


def architecture_of(model: str) -> str:
    """--model → the model's name in IMDL-BenCo's MODELS: `sigma` and Table 1's method names (any
    case), or a registered name as it is."""
    from ..baselines import LEARNED_BASELINES

    if model.lower() == "sigma":
        return "SIGMA"
    spec = LEARNED_BASELINES.get(model.lower())
    return spec.architecture if spec else model


def run(args) -> int:
    from ..model import SIGMA
    from ..model.registered import registered_model

    load_plugins(args.plugin)
    architecture = architecture_of(args.model)
    model = registered_model(architecture, hint="; a plugin's model: --plugin MODULE. `benco train --model` takes "
                             "sigma, ddpm-unet, ddpm-cd, meta-cd or a registered pair model; detectors are trained "
                             "with `benco finetune`")
    if isinstance(model, type) and issubclass(model, SIGMA):
        print(train_sigma(args, architecture))
    else:
        print(train_pair(args, architecture))
    return 0


def sigma_config(args):
    from ..config import SigmaConfig

    config = SigmaConfig.resolve(args.config or "base").with_overrides(overrides(args))
    if args.backbone_weights:
        check_backbone_weights(config, args.backbone_weights, f"config '{args.config or 'base'}'")
        config.use_backbone_weights(args.backbone_weights)
    return config


def train_sigma(args, architecture: str):
    config = sigma_config(args)
    grounding = grounding_config(args, required=False)
    grounder = None
    if grounding is not None:
        from ..grounding.grounder import LangSAMGrounder

        if not args.intent_cache:
            raise BadInputError("grounding while training needs --intent-cache DIR to store the maps it computes")
        grounder = LangSAMGrounder.load(grounding)
    common = dict(val_pairs=args.val_pairs, resume=args.resume, intent_cache=args.intent_cache, grounder=grounder,
                  init=args.init, architecture=architecture)
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


def train_pair(args, architecture: str):
    """A registered pair model other than SIGMA, on Stage I pairs."""
    from ..baselines import LEARNED_BASELINES
    from ..training.stage1 import pair_model_config, train_pair_model

    if args.stage != 1 or args.cache_features or args.intent_cache or args.unlabeled_pairs:
        raise BadInputError(f"--model {args.model} trains on Stage I pairs only (no --stage 2, --cache-features, "
                            "--intent-cache or --unlabeled-pairs)")
    config = pair_model_config(architecture, args.config or "", overrides(args), args.backbone_weights)
    if args.backbone_weights:
        check_weights_source(args.backbone_weights, "--backbone-weights")
    # DDPM-CD's DDPM pretraining (ddpm-unet) predicts no mask: nothing to score on --val-pairs
    predicts_masks = all(spec.scored for spec in LEARNED_BASELINES.values() if spec.architecture == architecture)
    return train_pair_model(architecture, args.pairs, args.out, config, train_flags().build(args),
                            val_pairs=args.val_pairs if predicts_masks else None, resume=args.resume, init=args.init)
