"""Synthetic edit pairs per second (`benco synth`), written to RESULTS.md.

    python -m benchmarks.synth_speed --images ../shared/data/photos --n 5000 --workers 2 --out /tmp/synth
"""

from __future__ import annotations

import argparse
import json
import time

from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.synth.generator import SynthConfig, synthesize

from .results import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", help="photo folder (default: the photos bundled with pip packages)")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--vae", help="SD VAE folder (roundtrip instead of resampling)")
    parser.add_argument("--out", required=True, help="an empty folder (finished pairs would be skipped)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    started = time.perf_counter()
    manifest = synthesize(args.out, args.n, images=args.images, workers=args.workers, vae=args.vae,
                          config=SynthConfig(size=args.size))
    seconds = time.perf_counter() - started
    pairs = read_manifest(manifest)
    kinds = {}
    for pair in pairs:
        kinds[pair.edit_type] = kinds.get(pair.edit_type, 0) + 1
    result = {"pairs": len(pairs), "seconds": round(seconds, 1), "pairs_per_second": round(len(pairs) / seconds, 2),
              "workers": args.workers, "size": args.size, "edit_types": kinds}
    print(json.dumps(result))
    if not args.no_record:
        record("synth", "Synthetic pairs (`benco synth`) per second",
               f"{result['pairs']} pairs ({args.size} px short side, {args.workers} worker process(es)) in "
               f"{result['seconds']} s: **{result['pairs_per_second']} pairs/s**. Edit types: "
               + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ".")


if __name__ == "__main__":
    main()
