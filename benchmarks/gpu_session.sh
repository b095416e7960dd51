#!/usr/bin/env bash
# Issue 8's GPU rows and the library's GPU checks in one command on a lent GPU machine (about 8 minutes on an H100/H200).
#
# Here, once per checkout (the wheels the GPU image lacks, git-ignored through .git/info/exclude):
#     bash benchmarks/gpu_session.sh --download
# Then one device call from the repository root, carrying .whl:
#     bash benchmarks/gpu_session.sh            (device tool: carry [".whl"], timeout_s 600)
# Everything it measures lands in $OUT (or ./gpu_out): session.log, checks.jsonl, bench-<row>.tar.gz (tables, JSON, plots, logs).
# Worst case about 150 + 130 + 200 s plus installs and imports: run it with the device tool's timeout_s=600.
# Pieces: GPU_SKIP_CHECKS=1, GPU_SKIP_BENCH=1, GPU_BF16=1 (one more row, each library's bf16 mode: about 2 minutes more, so skip the checks); iterations: GPU_ITERS (gpt2s, default 3), GPU_ITERS_BIG (gpt2s-big, default 2).
# A dry run of the plumbing on a CPU machine (the checks on the CPU, the benchmark's --quick configuration):
#     PATH=$PWD/.venv/bin:$PATH GPU_DEVICE=cpu GPU_NO_WHEELS=1 BENCH_TRL_PYTHON=benchmarks/.venv-trl/bin/python bash benchmarks/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS="trl==1.12.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 fastcore==1.14.5 vadersentiment==3.3.2 transformers==5.24.0"

if [ "${1:-}" = "--download" ]; then
  grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .whl $WHEELS && ls -la .whl
  exit $?
fi

DEV="${GPU_DEVICE:-cuda}"
OUT="${OUT:-$PWD/gpu_out}"; mkdir -p "$OUT"
exec > >(tee "$OUT/session.log") 2>&1
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
if [ -z "${GPU_NO_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
export BENCH_TRL_PYTHON="${BENCH_TRL_PYTHON:-$(command -v python3)}"     # TRL and instruct_goose in the same python
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
python3 -c "import torch, transformers, accelerate, datasets, instruct_goose as ig; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, '| accelerate', accelerate.__version__, '| datasets', datasets.__version__, '| instruct_goose', ig.__file__)" || exit 1
"$BENCH_TRL_PYTHON" -c "import trl; print('trl', trl.__version__)" || exit 1
git log --oneline -1 2>/dev/null

if [ -z "${GPU_SKIP_CHECKS:-}" ]; then
  echo "== GPU checks (benchmarks/gpu_checks.py)"
  timeout 150 python3 benchmarks/gpu_checks.py --device "$DEV" --out "$OUT/checks.jsonl"
fi
if [ -z "${GPU_SKIP_BENCH:-}" ]; then
  # each row is packed into $OUT as soon as it ends: a call cut short keeps the rows that finished
  row() { # name timeout args...: one benchmark row into /tmp/gpu_bench/<name>, then $OUT/bench-<name>.tar.gz
    local name=$1 t=$2; shift 2; local d=/tmp/gpu_bench/$name; rm -rf "$d"; mkdir -p "$d"
    echo "== benchmark $name: $*"
    timeout "$t" python3 benchmarks/ppo_vs_trl.py "$@" --out "$d"
    tar -czf "$OUT/bench-$name.tar.gz" -C "$d" .
  }
  if [ "$DEV" = cpu ]; then
    row quick 300 --quick --threads 1                                                     # the dry run
  else
    row gpt2s 130 --device cuda --scale gpt2s --iters "${GPU_ITERS:-3}"                    # GPT-2 small, 64 x (32 + 32)
    row gpt2s-big 200 --device cuda --scale gpt2s-big --iters "${GPU_ITERS_BIG:-2}"        # GPT-2 small, 256 x (32 + 128)
    [ -n "${GPU_BF16:-}" ] && row gpt2s-bf16 130 --device cuda --scale gpt2s --bf16 --iters "${GPU_ITERS:-3}"   # each library's bf16 mode (TRL's: its update only)
  fi
fi
date -u
