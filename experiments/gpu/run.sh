#!/usr/bin/env bash
# The prepared check of the CUDA path (see check_gpu.py): at most about 8 minutes on one GPU.
#   experiments/gpu/run.sh [--dry-run] [--out DIR] [--parts a,b]
# --dry-run: the same code paths on the CPU at toy sizes, in under a minute (CI runs it).
# On a machine without the project's packages and without a registry (the lent GPU machine),
# carry the wheels that experiments/gpu/fetch_wheels.sh downloads into .whl: they are
# installed into /tmp/site first; mlpnas itself runs from this checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
if ! "$py" -c "import optuna, fvcore, hydra, timm" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "optuna, fvcore, hydra-core or timm is missing and no wheels are in .whl;" \
         "run experiments/gpu/fetch_wheels.sh on a machine with a registry first." >&2
    exit 2
  fi
fi
export PYTHONPATH=$(pwd)${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec "$py" experiments/gpu/check_gpu.py "$@"
