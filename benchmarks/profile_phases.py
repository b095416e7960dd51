"""Where instruct_goose's PPO iteration spends its time, phase by phase, against each phase's FLOP floor, with A/B
measurements of candidate fixes. Runs in the project venv; no library code is changed: the variants are built here
(monkeypatched sampler, a lean scoring function, a fused optimizer) and timed interleaved with the current code.

    python benchmarks/profile_phases.py                 # reference config, torch's default threads
    python benchmarks/profile_phases.py --threads 1     # steadier numbers on a busy machine
    python benchmarks/profile_phases.py --profile       # + torch.profiler top ops of the current update

Each number is the best of `--repeats` interleaved runs (the run least disturbed by other processes)."""
from __future__ import annotations
import argparse, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn.functional as F
from common import flop_floor, trunk_flops, head_flops, matmul_ceiling, prompts


def inverse_cdf_multinomial(probs, num_samples=1, replacement=False, *, generator=None, out=None):
    """Drop-in for `torch.multinomial(probs, 1)`: one uniform per row and a binary search in the float64 CDF, instead of
    torch's n_sample=1 path, which draws an exponential for every vocabulary entry (V random numbers per row)."""
    assert num_samples == 1 and out is None
    cdf = probs.double().cumsum(-1)
    u = torch.rand(probs.shape[:-1] + (1,), dtype=torch.float64, device=probs.device, generator=generator)
    idx = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)   # first index with cdf > u*total: never a p=0 token
    return idx.clamp_(max=probs.shape[-1] - 1)


def lean_score(agent, q, qm, r, rm, temperature=1.0):
    "What `_score` + `Agent.forward` compute for the loss, without the entropy in the graph or a division by T=1."
    import instruct_goose.agent as A
    ids, mask, pos, idx = A.concat_query_response(q, qm, r, rm)
    logits, h, _ = A._lm_step(agent.policy, agent._linear_head, ids, mask, pos, idx)
    if temperature != 1.0: logits = logits / temperature
    lp = -F.cross_entropy(logits.flatten(0, 1), r.flatten(), reduction="none").view_as(r).float()   # fused log_softmax+gather
    with torch.no_grad():  # entropy as a statistic only (ent_coef = 0)
        logp = logits.detach().log_softmax(-1); ent = -(logp.exp() * logp).sum(-1)
    valid = rm.bool()
    values = agent._values(h) if agent.shared_critic else agent._critic_values(ids, mask, pos, idx)
    return torch.where(valid, lp, 0.0), torch.where(valid, values, 0.0), ent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", default="base")
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    from ppo_vs_trl import make_config
    from ig_worker import build_ig
    c = make_config(args.quick, args.scale)
    agent, ref, rm, tok = build_ig(c, args.critic)
    B, Q, R = c.episodes, c.query_len, c.response_len
    mb = B // c.num_mini_batches
    q = prompts(c, B); qm = torch.ones_like(q)
    g = torch.Generator().manual_seed(0)
    ceiling = max(matmul_ceiling() for _ in range(3))
    fl = flop_floor(c, args.critic == "separate")
    print(f"config {args.scale}{' quick' if args.quick else ''}, critic {args.critic}; fp32 matmul ceiling {ceiling / 1e9:.0f} GFLOP/s, threads {torch.get_num_threads()}")
    rows = []
    def ab(name, floor, variants):
        best = {k: float("inf") for k in variants}
        for _ in range(args.repeats):
            for k, fn in variants.items():
                t = time.perf_counter(); fn(); best[k] = min(best[k], time.perf_counter() - t)
        for k in variants: rows.append((f"{name}: {k}", best[k], floor))
        return best

    # --- generation: torch.multinomial (V exponentials per row per step) vs one uniform per row
    def gen(): return agent.generate(q, qm, max_new_tokens=R, generator=g, eos_token_id=[], pad_token_id=c.pad_id)
    ro = gen()
    mn = torch.multinomial
    def gen_icdf():
        torch.multinomial = inverse_cdf_multinomial
        try: return gen()
        finally: torch.multinomial = mn
    ab("generation", fl["generation"], {"current (torch.multinomial)": gen, "inverse-CDF sampler": gen_icdf})
    logits = torch.randn(B, c.vocab_size); p = logits.softmax(-1)
    tt = {}
    for k, fn in {"torch.multinomial": lambda: torch.multinomial(p, 1, generator=g),
                  "inverse-CDF": lambda: inverse_cdf_multinomial(p, 1, generator=g),
                  "softmax": lambda: logits.softmax(-1), "logsumexp": lambda: logits.logsumexp(-1),
                  "LM head (B,D)@(D,V)": lambda: agent.policy.lm_head(torch.randn(B, 1, c.n_embd))}.items():
        ts = []
        for _ in range(10 * args.repeats):
            t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
        tt[k] = min(ts)
    print("one decode step, (B,V) = (%d,%d): " % (B, c.vocab_size) + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in tt.items()))

    # --- reference: the entropy it computes and discards
    import instruct_goose.agent as A
    def ref_cur(): return ref(ro.query, ro.query_mask, ro.response, ro.response_mask)
    def ref_lean():
        with torch.no_grad(): return A._score(ref.lm, ref._linear_head, ro.query, ro.query_mask, ro.response, ro.response_mask, 1.0, entropy=False)
    ab("reference", fl["reference"], {"current": ref_cur, "no entropy": ref_lean})

    # --- update: 4 epochs x 4 minibatches of forward + backward + AdamW step
    adv = torch.randn(B, R); ret = torch.randn(B, R)
    params = [p for p in agent.parameters() if p.requires_grad]
    opt_loop = torch.optim.AdamW(params, lr=1e-9, eps=1e-8)              # torch's CPU default: a per-tensor for-loop
    opt_fused = torch.optim.AdamW(params, lr=1e-9, eps=1e-8, fused=True)
    def update(lean):
        opt = opt_fused if lean else opt_loop
        for e in range(c.ppo_epochs):
            for s in range(0, B, mb):
                sl = slice(s, s + mb)
                if lean: lp, v, _ = lean_score(agent, ro.query[sl], ro.query_mask[sl], ro.response[sl], ro.response_mask[sl])
                else:
                    o = agent(ro.query[sl], ro.query_mask[sl], ro.response[sl], ro.response_mask[sl]); lp, v = o.logprobs, o.values
                loss = -(lp * adv[sl]).mean() + 0.1 * ((v - ret[sl]) ** 2).mean()
                opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    ab("update", fl["update"], {"current (Agent.forward + AdamW for-loop)": lambda: update(False),
                                "lean (no entropy graph, fused CE, fused AdamW)": lambda: update(True)})

    # --- reward pass
    ids = torch.cat([ro.query, ro.response], 1); mask = torch.ones_like(ids)
    def rwd():
        with torch.no_grad(): rm(ids, mask)
    ab("reward", fl["reward"], {"current": rwd})

    # --- the matmuls of one update minibatch alone: the rate reachable at these shapes
    D, V, L = c.n_embd, c.vocab_size, c.n_layer
    x = torch.randn(mb * (Q + R), D); ws = [torch.randn(D, 3 * D), torch.randn(D, D), torch.randn(D, 4 * D)]; w2 = torch.randn(4 * D, D)
    hx = torch.randn(mb * R, D); wv = torch.randn(D, V)
    def mm():
        for _ in range(L):
            for w in ws: x @ w
            torch.randn(x.shape[0], 4 * D) @ w2
        hx @ wv
    fl_mm = 2 * (L * x.shape[0] * 12 * D * D + hx.shape[0] * D * V)
    tm = ab("matmuls of one minibatch forward", fl_mm, {"torch.matmul only": mm})
    print(f"those matmuls run at {fl_mm / tm['torch.matmul only'] / 1e9:.0f} GFLOP/s (ceiling {ceiling / 1e9:.0f})")

    print(f"\n{'phase: variant':62s} {'s':>8s} {'floor s':>8s} {'x floor':>8s}")
    for k, t, f in rows: print(f"{k:62s} {t:8.3f} {f / ceiling:8.3f} {t / (f / ceiling):8.2f}")

    if args.profile:
        from torch.profiler import profile, ProfilerActivity
        with profile(activities=[ProfilerActivity.CPU]) as prof: update(False)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
