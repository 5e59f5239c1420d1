#!/usr/bin/env bash
# One device check for a lent GPU (one H200 runs it in about 3 minutes; budget < 8):
# annotate pairs/s (batch sweep, ε prior), with cached intent maps, with grounding on the fly,
# each stage's pairs/s, grounding images/s, Stage I s/step with and without --cache-features,
# peak GPU memory. Printed, and written to benchmarks/RESULTS.md (section device_check).
# Everything is randomly initialised; see benchmarks/device_check.py for what runs.
#
#   bash benchmarks/device_check.sh --dry-run        CPU, tiny configs, < 60 s (tests/test_device_check.py)
#   bash benchmarks/device_check.sh --build-wheels   here, once: wheels of what the device lacks, into .whl/
#   bash benchmarks/device_check.sh                  on the GPU machine
#
# The device image has torch, transformers, timm, opencv, scikit-image, scikit-learn, but not
# sam2 (with hydra-core, omegaconf, antlr4 4.9, iopath), imdlbenco or albumentations 1.3.0 (with
# qudida) nor fvcore, yacs, termcolor (imported by imdlbenco). --build-wheels builds them into .whl/ with `pip wheel --no-deps` (listed in
# .git/info/exclude, so it is not committed; a few MiB); all are pure Python (sam2 with
# SAM2_BUILD_CUDA=0), so they install on the device's CPython 3.12. Then, with the device tool,
# from the checkout the session was started in (the tool sends that one):
#
#   run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
#
# On the device the script installs .whl/*.whl into /tmp/site (PYTHONPATH, nothing else is
# touched), runs the check, and copies RESULTS.md, the JSON figures and the log into $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
PY=${PYTHON:-python3}  # the interpreter with torch (tests pass their own)
PURE=(hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 iopath==0.1.10 imdlbenco==0.1.45
      albumentations==1.3.0 qudida==0.0.4 fvcore==0.1.5.post20221221 yacs==0.1.8 termcolor==3.3.0)

case "${1:-}" in
  --build-wheels)
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
    mkdir -p "$WHEELS"
    SAM2_BUILD_CUDA=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" sam2==1.1.0 "${PURE[@]}"
    ls -l "$WHEELS"
    if ls "$WHEELS"/*.whl | grep -v -- '-none-any.whl$'; then
      echo "device_check: the wheels above are not pure Python: build them for CPython 3.12 instead" >&2; exit 1
    fi
    exit 0 ;;
  --dry-run)
    exec "$PY" -m benchmarks.device_check --dry-run "${@:2}" ;;
esac

if compgen -G "$WHEELS/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
WORK=$(mktemp -d /tmp/device_check.XXXX)
set -o pipefail
"$PY" -m benchmarks.device_check --work "$WORK" "$@" 2>&1 | tee "$WORK/log.txt"
if [ -n "${OUT:-}" ]; then
  cp benchmarks/RESULTS.md "$WORK/device_check.json" "$WORK/log.txt" "$OUT/"
fi
