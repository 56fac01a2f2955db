#!/usr/bin/env bash
# The GPU check (docs/BENCHMARKS.md): the engine's worker path without Ray, on config-built Qwen shapes.
#   bash scripts/gpu_check.sh [--device cuda|cpu] [--shapes 0.5b,1.5b,8b] [--out DIR] [--steps N] [--smoke-test] ...
# Installs the carried bitsandbytes wheel (.whl/) into /tmp/site when bitsandbytes is not importable.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
SITE=${GPU_CHECK_SITE:-/tmp/site}
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

if ! "$PY" -c "import bitsandbytes" >/dev/null 2>&1; then
    shopt -s nullglob
    wheels=("$REPO"/.whl/bitsandbytes-*.whl)
    if [ ${#wheels[@]} -eq 0 ]; then
        echo "gpu_check: error: bitsandbytes is not importable and $REPO/.whl/ holds no bitsandbytes wheel" \
             "(download it first: docs/BENCHMARKS.md, 'The GPU check')" >&2
        exit 1
    fi
    echo "gpu_check: installing ${wheels[*]##*/} into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}"
fi
exec "$PY" -m campaign.bench.gpu_check "$@"
