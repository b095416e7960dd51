"""How close could generation get to its FLOP floor on this machine? `Agent.generate` of the reference configuration
(64 rows, 32-token prompts, 32 new tokens) timed beside each of its pieces run alone at the same shapes, interleaved:

- matmuls: the prompt pass and every decode step's dense matmuls and LM head (plain `@`, no bias: an ideal epilogue);
- attention: the prompt pass's causal attention and each decode step's against its own layer's K/V cache;
- softmax + sampler: the step's (B,V) softmax and the library's two-level inverse-CDF draw;
- elementwise: each layer's two layer norms, GELU and two residual adds;
- `generate` of one row: Python, dispatch and reading every weight once per step, with almost no arithmetic.

The pieces' sum is what `generate` would take with no cost between the kernels; what `generate` takes beyond it is the
per-step work of the model's forward (dispatch, masks, the cache's bookkeeping) and the cache effects of running the
pieces together. Each time is the shorter of wall and CPU time (a core held by another process does not count).

    python benchmarks/generation_pieces.py            # one torch thread, 7 interleaved repeats
"""
from __future__ import annotations
import os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn.functional as F
from common import flop_floor, matmul_ceiling, generation_setup


def main():
    args, c, agent, rb = generation_setup(default_repeats=7)
    import instruct_goose.agent as A
    B, Q, R, D, V, L, H = c.episodes, c.query_len, c.response_len, c.n_embd, c.vocab_size, c.n_layer, c.n_head
    hd = D // H
    ceiling = max(matmul_ceiling() for _ in range(3))
    floor = flop_floor(c, False)["generation"] / ceiling
    g = torch.Generator().manual_seed(0)
    kw = dict(max_new_tokens=R, generator=g, eos_token_id=[], pad_token_id=c.pad_id)
    def generate(): agent.generate(rb.query, rb.query_mask, **kw)
    def generate_one_row(): agent.generate(rb.query[:1], rb.query_mask[:1], **kw)

    W = [[torch.randn(D, 3 * D), torch.randn(D, D), torch.randn(D, 4 * D), torch.randn(4 * D, D)] for _ in range(L)]
    W_head = torch.randn(V, D)
    x_prompt = [torch.randn(B * Q, k.shape[0]) for k in W[0]]
    x_step = [torch.randn(B, k.shape[0]) for k in W[0]]
    h_last = torch.randn(B, D)
    def matmuls():                                        # R LM heads: the prompt's last position, then R - 1 steps
        for l in range(L):
            for x, w in zip(x_prompt, W[l]): x @ w
        h_last @ W_head.t()
        for t in range(R - 1):
            for l in range(L):
                for x, w in zip(x_step, W[l]): x @ w
            h_last @ W_head.t()

    keys = [torch.randn(B, H, Q + R, hd) for _ in range(L)]; values = [torch.randn(B, H, Q + R, hd) for _ in range(L)]
    q_prompt, q_step = torch.randn(B, H, Q, hd), torch.randn(B, H, 1, hd)
    def attention():
        for l in range(L): F.scaled_dot_product_attention(q_prompt, keys[l][:, :, :Q], values[l][:, :, :Q], is_causal=True)
        for t in range(R - 1):
            for l in range(L): F.scaled_dot_product_attention(q_step, keys[l][:, :, :Q + t + 1], values[l][:, :, :Q + t + 1])

    logits = torch.randn(B, V)
    def softmax_sampler():
        for t in range(R): A._inverse_cdf(torch.softmax(logits, -1), torch.rand((B, 1), dtype=torch.float64, generator=g))

    ln = torch.nn.LayerNorm(D)
    a_prompt, m_prompt, a_step, m_step = torch.randn(B * Q, D), torch.randn(B * Q, 4 * D), torch.randn(B, D), torch.randn(B, 4 * D)
    def elementwise():
        for a, m, n in ((a_prompt, m_prompt, 1), (a_step, m_step, R - 1)):
            for _ in range(n * L): ln(a); ln(a); F.gelu(m, approximate="tanh"); a + a; a + a

    pieces = {"matmuls (dense + LM head)": matmuls, "attention": attention, "softmax + sampler": softmax_sampler,
              "elementwise (layer norm, GELU, adds)": elementwise}
    fns = {"generate (64 rows)": generate, "generate (1 row)": generate_one_row, **pieces}
    runs = {k: [] for k in fns}
    with torch.inference_mode():
        for f in fns.values(): f()
        for _ in range(args.repeats):
            for k, f in fns.items():
                t, c0 = time.perf_counter(), time.process_time(); f()
                runs[k].append(min(time.perf_counter() - t, (time.process_time() - c0) / args.threads))
    best = {k: min(v) for k, v in runs.items()}
    print(f"config {args.scale}: {B} rows x {R} new tokens after {Q}-token prompts; fp32 matmul ceiling {ceiling / 1e9:.0f} "
          f"GFLOP/s, {args.threads} thread(s); generation floor {floor * 1e3:.0f} ms")
    print(f"{'':38s} {'best ms':>8s} {'median ms':>10s} {'x floor':>8s}")
    for k, v in runs.items(): print(f"{k:38s} {best[k] * 1e3:8.1f} {statistics.median(v) * 1e3:10.1f} {best[k] / floor:8.2f}")
    s = sum(best[k] for k in pieces)
    print(f"{'sum of the pieces':38s} {s * 1e3:8.1f} {'':10s} {s / floor:8.2f}")
    print(f"{'generate beyond the pieces':38s} {(best['generate (64 rows)'] - s) * 1e3:8.1f}")


if __name__ == "__main__":
    main()
