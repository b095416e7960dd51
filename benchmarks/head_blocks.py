"""The LM head's product in blocks of the vocabulary (the library's `_linear_into`) against one call over the whole
(V, D) weight, at the shapes of decoding steps (64 rows) and of minibatch passes (256-512 rows), float32, one thread.

Both write into the same preallocated (M, V) buffer; a 48 MiB sweep before every call leaves the weight outside the
cache, as in a PPO iteration, where the rest of the model runs between two heads. The calls alternate; each time is
the best of `--repeats` rounds of the median of `--calls` calls.

    python benchmarks/head_blocks.py            # the table (about a minute)
    python benchmarks/head_blocks.py --big      # also (32000, 2048) and (32000, 4096): a few minutes, 1 GiB
"""
from __future__ import annotations
import argparse, os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch
from instruct_goose.agent import _linear_into, _HEAD_BLOCK_BYTES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=7)
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sweep = torch.randn(48 * 2**20 // 4)
    def timed(f) -> float:
        ts = []
        for _ in range(args.calls):
            sweep.mul_(1.0)
            t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
        return statistics.median(ts)
    shapes = [(8192, 256), (8192, 512), (8192, 1024), (50257, 768)] + ([(32000, 2048), (32000, 4096)] if args.big else [])
    print(f"torch {torch.__version__}, {args.threads} thread(s); blocks of {_HEAD_BLOCK_BYTES // 2**10} KiB of weight rows (at least 128 rows)")
    print(f"{'(V, D)':>14s} {'rows':>5s} {'block rows':>10s} {'one call ms':>11s} {'blocks ms':>9s} {'ratio':>6s}")
    for V, D in shapes:
        W = torch.randn(V, D)
        for M in (64, 512 if V * D <= 2**24 else 256):
            x, out = torch.randn(M, D), torch.empty(M, V)
            one = lambda: torch.mm(x, W.t(), out=out)
            blocks = lambda: _linear_into(x, W, None, out)
            a, b = [], []
            for _ in range(args.repeats): a.append(timed(one)); b.append(timed(blocks))
            n = max(128, _HEAD_BLOCK_BYTES // (D * 4))
            print(f"{str((V, D)):>14s} {M:5d} {n:10d} {min(a) * 1e3:11.2f} {min(b) * 1e3:9.2f} {min(b) / min(a):6.2f}", flush=True)


if __name__ == "__main__":
    main()
