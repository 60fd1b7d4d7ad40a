#!/usr/bin/env bash
# Wheels of what the lent GPU machine lacks (its image has torch, timm, pandas, matplotlib,
# onnx, onnxruntime, safetensors, scipy, tqdm, pyyaml but no registry): Optuna, fvcore and
# Hydra with their own needs, for its Python 3.12 on x86-64, into .whl (ignored by git;
# carry it: run(carry=[".whl"])). Pure-Python packages published only as sources are built
# into wheels here.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
rm -rf .whl && mkdir .whl
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
binary="optuna==5.0.0 alembic sqlalchemy greenlet colorlog Mako hydra-core==1.3.2
omegaconf==2.3.0 yacs termcolor"
for spec in $binary; do
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$spec"
done
for spec in "fvcore==0.1.5.post20221221" "iopath==0.1.10" "antlr4-python3-runtime==4.9.3"; do
  "$py" -m pip wheel -q --no-deps -w .whl "$spec"
done
ls -la .whl && du -sh .whl
