"""`benco synth`: synthetic edit pairs with exact masks from real photos."""

from __future__ import annotations

from .flags import COUNT, ConfigFlags, add_options, add_set_flag, given_options, overrides, signature_options

HELP = "synthetic edit pairs with exact masks from real photos"
OPTIONS = ("seed", "split", "holdout_every", "workers")


def synth_flags() -> ConfigFlags:
    from ..synth.generator import SynthConfig

    return ConfigFlags(SynthConfig)


def add_arguments(parser) -> None:
    from ..synth.generator import synthesize

    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=COUNT.parser(int), required=True, help="number of pairs")
    parser.add_argument("--images", help="folder of photos (default: photos shipped with scikit-image/-learn)")
    add_options(parser, signature_options(synthesize, OPTIONS, {
        "split": "use all photos, or the train / held-out test part of them",
        "holdout_every": "every N-th photo is held out for --split test", "workers": "worker processes"}))
    parser.add_argument("--vae", help="Stable Diffusion VAE folder: edited images get its roundtrip "
                        "instead of resampling")
    synth_flags().add(parser.add_argument_group("generator (SynthConfig)"))
    add_set_flag(parser, "regeneration.blur_prob=0.5")


def run(args) -> int:
    from ..synth.generator import synthesize

    config = synth_flags().build(args).with_overrides(overrides(args))
    print(synthesize(args.out, args.n, images=args.images, vae=args.vae, config=config,
                     **given_options(args, OPTIONS)))
    return 0
