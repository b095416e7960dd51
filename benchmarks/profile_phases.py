"""Where instruct_goose's PPO iteration spends its time, phase by phase, against each phase's FLOP floor, with A/B
measurements of candidate fixes. Runs in the project venv; no library code is changed: the variants are built here
(a monkeypatched sampler, a lean `_score`, a fused optimizer) and timed interleaved with the current code.

    python benchmarks/profile_phases.py --threads 1            # reference config, shared critic
    python benchmarks/profile_phases.py --threads 1 --critic separate
    python benchmarks/profile_phases.py --quick                # smoke test

Each number is the best of `--repeats` interleaved runs, each timed by the shorter of its wall time and its CPU time /
threads (so waiting for a core that another process holds does not count)."""
from __future__ import annotations
import argparse, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn.functional as F
from common import flop_floor, trunk_flops, head_flops, matmul_ceiling, PhaseTimer


def inverse_cdf_multinomial(probs, num_samples=1, replacement=False, *, generator=None, out=None):
    """Drop-in for `torch.multinomial(probs, 1)`: one uniform per row and a binary search in the float64 CDF. torch's
    n_sample=1 path draws an exponential for every vocabulary entry instead (V random numbers per row and step)."""
    assert num_samples == 1 and out is None
    cdf = probs.double().cumsum(-1)
    u = torch.rand(probs.shape[:-1] + (1,), dtype=torch.float64, device=probs.device, generator=generator)
    idx = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)   # first index with cdf > u*total: never a p=0 token
    return idx.clamp_(max=probs.shape[-1] - 1)


def lean_score(model, linear_head, query, query_mask, response, response_mask, temperature=1.0, entropy=True):
    """`instruct_goose.agent._score` without two avoidable costs: no division of the (B,R,V) logits when T = 1, and the
    entropy computed without a graph (a statistic when ent_coef = 0; with ent_coef > 0 it must stay in the graph)."""
    import instruct_goose.agent as A
    ids, mask, pos, idx = A.concat_query_response(query, query_mask, response, response_mask)
    logits, h, _ = A._lm_step(model, linear_head, ids, mask, pos, idx)
    if temperature != 1.0: logits = logits / temperature
    logp = F.log_softmax(logits, dim=-1)
    valid = response_mask.bool()
    lp = logp.gather(-1, response.masked_fill(~valid, 0)[..., None]).squeeze(-1)
    if entropy:
        with torch.no_grad(): ent = -(logp.exp() * logp).sum(-1)
    else: ent = torch.zeros_like(lp)
    zero = torch.zeros((), device=lp.device, dtype=lp.dtype)
    return torch.where(valid, lp, zero), torch.where(valid, ent, zero), h, (ids, mask, pos, idx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scale", default="base")
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    from ppo_vs_trl import make_config
    from ig_trainer_engine import TrainerEngine
    import instruct_goose.agent as A
    c = make_config(args.quick, args.scale)
    eng = TrainerEngine(c, args.critic, PhaseTimer())
    agent, ref, tr = eng.agent, eng.ref, eng.trainer
    eng.iteration()                                   # warm-up; leaves a rollout to work on
    rb = tr.last_rollout
    B, Q, R = c.episodes, c.query_len, c.response_len
    ceiling = max(matmul_ceiling() for _ in range(3))
    fl = flop_floor(c, args.critic == "separate")
    print(f"config {args.scale}{' quick' if args.quick else ''}, critic {args.critic}; fp32 matmul ceiling {ceiling / 1e9:.0f} GFLOP/s, "
          f"{torch.get_num_threads()} thread(s)")
    rows = []
    def ab(name, floor, variants, repeats=args.repeats):
        best = {k: float("inf") for k in variants}
        th = torch.get_num_threads()
        for _ in range(repeats):
            for k, fn in variants.items():   # busy time: wall, or CPU time / threads when other processes hold the cores
                t, c0 = time.perf_counter(), time.process_time(); fn()
                best[k] = min(best[k], time.perf_counter() - t, (time.process_time() - c0) / th)
        for k in variants: rows.append((name, k, best[k], floor))
        return best

    # --- generation: torch.multinomial vs one uniform per row; the KV cache's share (torch.cat per layer and step)
    g = torch.Generator().manual_seed(0)
    def gen(): return agent.generate(rb.query, rb.query_mask, max_new_tokens=R, generator=g, eos_token_id=[], pad_token_id=c.pad_id)
    mn = torch.multinomial
    def gen_icdf():
        torch.multinomial = inverse_cdf_multinomial
        try: return gen()
        finally: torch.multinomial = mn
    ab("generation", fl["generation"], {"current (torch.multinomial)": gen, "inverse-CDF sampler": gen_icdf})
    logits = torch.randn(B, c.vocab_size); p = logits.softmax(-1)
    tt = {}
    for k, fn in {"torch.multinomial(p, 1)": lambda: torch.multinomial(p, 1, generator=g),
                  "inverse-CDF": lambda: inverse_cdf_multinomial(p, 1, generator=g),
                  "LM head": lambda: agent.policy.lm_head(torch.randn(B, 1, c.n_embd))}.items():
        tt[k] = min((lambda t0: (fn(), time.process_time() - t0)[1])(time.process_time()) for _ in range(10 * args.repeats)) / torch.get_num_threads()
    print(f"one decode step at (B,V) = ({B},{c.vocab_size}): " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in tt.items()))
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof: gen_icdf()
    ka = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    tot = sum(ka.values())
    print(f"generate (inverse-CDF sampler) under the profiler: matmuls {100 * (ka.get('aten::addmm', 0) + ka.get('aten::mm', 0)) / tot:.0f}%, "
          f"KV-cache torch.cat {100 * ka.get('aten::cat', 0) / tot:.0f}%, attention {100 * ka.get('aten::_scaled_dot_product_flash_attention_for_cpu', 0) / tot:.0f}% of op time")

    # --- reference pass: the entropy it computes and discards, the division by T = 1
    orig_score = A._score
    def with_score(fn, score):
        def run():
            A._score = score
            try: return fn()
            finally: A._score = orig_score
        return run
    def ref_pass(): return tr._forward_nograd(ref, rb.query, rb.query_mask, rb.response, rb.response_mask, keys=("logprobs",))
    ab("reference", fl["reference"], {"current": ref_pass,
                                      "lean _score (entropy=False, no /T)": with_score(ref_pass, lambda *a, **k: lean_score(*a[:7], entropy=False))})

    # --- update: one minibatch of the trainer (forward, backward, AdamW step) x the number of minibatches per iteration
    n_mb = c.ppo_epochs * c.num_mini_batches
    mb = rb[torch.arange(B // c.num_mini_batches)]
    params = [p for p in tr.model.parameters() if p.requires_grad]
    fused = torch.optim.AdamW(params, lr=1e-12, eps=1e-8, fused=True)
    def step_with(opt):
        def run():
            opt.zero_grad(set_to_none=True)
            loss, _ = tr.minibatch_loss(mb); loss.backward(); opt.step()
        return run
    res = ab("update minibatch", fl["update"] / n_mb, {
        "current (Agent.forward, AdamW for-loop)": step_with(tr.optimizer),
        "lean _score (no /T at T=1, entropy without graph)": with_score(step_with(tr.optimizer), lean_score),
        "fused AdamW": step_with(fused),
        "lean _score + fused AdamW": with_score(step_with(fused), lean_score)})

    # --- the matmuls of one update minibatch's forward alone: the rate reachable at these shapes
    D, V, L = c.n_embd, c.vocab_size, c.n_layer
    m = B // c.num_mini_batches
    x = torch.randn(m * (Q + R), D); ws = [torch.randn(D, 3 * D), torch.randn(D, D), torch.randn(D, 4 * D)]; y = torch.randn(m * (Q + R), 4 * D); w2 = torch.randn(4 * D, D)
    hx = torch.randn(m * R, D); wv = torch.randn(D, V)
    def mm():
        for _ in range(L):
            for w in ws: x @ w
            y @ w2
        hx @ wv
    fl_mm = 2 * (L * x.shape[0] * 12 * D * D + hx.shape[0] * D * V)
    tm = ab("matmuls of one minibatch forward", fl_mm, {"torch.matmul only": mm})

    print(f"\n{'phase':34s} {'variant':50s} {'s':>8s} {'floor s':>8s} {'x floor':>8s}")
    for ph, k, t, f in rows: print(f"{ph:34s} {k:50s} {t:8.3f} {f / ceiling:8.3f} {t / (f / ceiling):8.2f}")
    print(f"\n(the update of one iteration is {n_mb} such minibatches; the matmuls alone run at {fl_mm / tm['torch.matmul only'] / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
