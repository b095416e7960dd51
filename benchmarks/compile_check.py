"""`RLHFConfig(compile=True)` against the default on the reference configuration: full PPO iterations of
`RLHFTrainer.train` (the benchmark's `TrainerEngine`), eager and compiled trainers interleaved, busy seconds
(CPU seconds / threads). The first iteration of each trainer is a warm-up (it includes the compilation).

    python benchmarks/compile_check.py --threads 1                     # shared critic
    python benchmarks/compile_check.py --threads 1 --critic separate
"""
from __future__ import annotations
import argparse, os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from common import PhaseTimer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    from ppo_vs_trl import make_config
    from ig_trainer_engine import TrainerEngine
    c = make_config(args.quick, "base")
    engines = {"eager": TrainerEngine(c, args.critic, PhaseTimer()), "compile=True": TrainerEngine(c, args.critic, PhaseTimer())}
    engines["compile=True"].trainer.config.compile = True      # read by minibatch_loss: compiled on first use
    th = torch.get_num_threads()
    busy, update = {k: [] for k in engines}, {k: [] for k in engines}
    for i in range(args.iters + 1):
        for k, e in engines.items():
            c0 = time.process_time(); e.iteration(); b = (time.process_time() - c0) / th
            print(f"[{i}] {k:13s} busy {b:6.2f} s, update (wall) {e.trainer.history[-1]['time/train']:6.2f} s{'  (warm-up)' if i == 0 else ''}", flush=True)
            if i: busy[k].append(b); update[k].append(e.update_cpu / th)
    print(f"critic {args.critic}, {th} thread(s), medians of {args.iters} iterations after a warm-up:")
    for k in engines: print(f"  {k:13s} iteration {statistics.median(busy[k]):6.2f} busy s, update {statistics.median(update[k]):6.2f} busy s")


if __name__ == "__main__":
    main()
