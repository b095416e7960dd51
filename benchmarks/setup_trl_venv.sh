#!/usr/bin/env bash
# TRL 1.12.0 (the newest release with PPO) in its own virtual environment, next to this script.
# torch first (the CPU wheel: from the local wheel folder when there is one, else PyPI's CPU index), then TRL,
# which brings the transformers/accelerate/datasets versions it needs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/.venv-trl"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
WHEEL="$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1 || true)"
if [ -n "$WHEEL" ]; then "$VENV/bin/pip" install -q "$WHEEL"
else "$VENV/bin/pip" install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; fi
"$VENV/bin/pip" install -q "trl==1.12.0"
"$VENV/bin/python" -c "import trl, torch, transformers; from trl.experimental.ppo import PPOTrainer; print('trl', trl.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
