"""`Agent.generate(compile=True)` (the decoding steps through `torch.compile`; what `RLHFConfig(compile=True)` samples with)
against the eager default, interleaved in one process, on the reference configuration (64 rows, 32-token prompts,
32 new tokens), with the FLOP floor of the generation. Each time is the shorter of wall and CPU time.

    python benchmarks/generation_compile.py            # one torch thread, 9 interleaved repeats
"""
from __future__ import annotations
import os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from common import flop_floor, matmul_ceiling, generation_setup


def main():
    args, c, agent, rb = generation_setup(default_repeats=9)
    kw = dict(max_new_tokens=c.response_len, eos_token_id=[], pad_token_id=c.pad_id)
    def generate(compile):
        g = torch.Generator().manual_seed(0)
        t, cpu = time.perf_counter(), time.process_time()
        out = agent.generate(rb.query, rb.query_mask, generator=g, compile=compile, **kw)
        return min(time.perf_counter() - t, (time.process_time() - cpu) / args.threads), out
    t = time.perf_counter(); generate(True); first = time.perf_counter() - t
    generate(True); generate(False)
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for flag in times: times[flag].append(generate(flag)[0])
    ceiling = max(matmul_ceiling() for _ in range(3))
    floor = flop_floor(c, False)["generation"] / ceiling
    print(f"config {args.scale}: {c.episodes} rows x {c.response_len} new tokens, {args.threads} thread(s); fp32 matmul ceiling "
          f"{ceiling / 1e9:.0f} GFLOP/s, generation floor {floor * 1e3:.0f} ms; first compiled call {first:.1f} s (compiles)")
    for flag, v in times.items():
        print(f"  generate(compile={flag!s:5}): best {min(v) * 1e3:4.0f} ms, median {statistics.median(v) * 1e3:4.0f} ms, "
              f"best x floor {min(v) / floor:.2f}")
    (_, e), (_, k) = generate(False), generate(True)
    print(f"  same tokens: {bool((e.response == k.response).all())}; max |log-prob difference| {(e.logprobs - k.logprobs).abs().max().item():.1e}")


if __name__ == "__main__":
    main()
