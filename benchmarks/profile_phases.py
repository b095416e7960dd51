"""Where instruct_goose's PPO iteration spends its time, phase by phase, against each phase's FLOP floor, with A/B
measurements of the library against its previous code paths. Runs in the project venv; no library code is changed: the
previous variants are rebuilt here and timed interleaved with the library as it is: "original" = before the speed
work (`torch.multinomial` as the sampler, the old `_score` that always divides by T and keeps the entropy in the
graph, the for-loop AdamW), "7274779" = the library at that commit (a flat float64 inverse-CDF sampler, transformers'
Python `gelu_new`, passes over all Q+R tokens, the reward model over the whole rollout at once), "9c3d619" = the
library at that commit (a (B,R,V) `log_softmax` with gather and entropy, and 🤗's `torch.cat` KV cache).

    python benchmarks/profile_phases.py --threads 1            # reference config, shared critic
    python benchmarks/profile_phases.py --threads 1 --critic separate
    python benchmarks/profile_phases.py --quick                # smoke test

Each number is the best (and the median) of `--repeats` interleaved runs, each timed by the shorter of its wall time and
its CPU time / threads (so waiting for a core that another process holds does not count). The median includes what
the best hides: the runs in which fresh large tensors page-fault (glibc returns big freed blocks to the system)."""
from __future__ import annotations
import argparse, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
import torch.nn.functional as F
from common import flop_floor, trunk_flops, head_flops, matmul_ceiling, PhaseTimer


def multinomial_sampler(probs, generator=None):
    "The previous sampler: `torch.multinomial(probs, 1)`, whose one-sample path draws an exponential for every vocabulary entry."
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def log_softmax_score(model, linear_head, query, query_mask, response, response_mask, temperature=1.0, entropy=True,
                      entropy_grad=True, original=False):
    """`instruct_goose.agent._score` at 9c3d619: a (B,R,V) `log_softmax`, a gather, and the entropy from it (outside
    the graph when `entropy_grad=False`), instead of `token_logprobs`. `original=True`: `_score` before the fixes,
    which always divided the logits by T (also T = 1) and always computed the entropy inside the autograd graph (the
    reference pass computed it too and threw it away)."""
    import instruct_goose.agent as A
    from contextlib import nullcontext
    if original: entropy, entropy_grad = True, True
    ids, mask, pos, idx = A.concat_query_response(query, query_mask, response, response_mask)
    logits, h, _ = A._lm_step(model, linear_head, ids, mask, pos, idx)
    if temperature != 1 or original: logits = logits / temperature
    logp = F.log_softmax(logits, dim=-1)
    valid = response_mask.bool()
    zero = torch.zeros((), device=logp.device, dtype=logp.dtype)
    lp = torch.where(valid, logp.gather(-1, response.masked_fill(~valid, 0)[..., None]).squeeze(-1), zero)
    ent = None
    if entropy:
        with nullcontext() if entropy_grad else torch.no_grad():
            ent = torch.where(valid, -(logp.exp() * logp).sum(-1), zero)
    return lp, ent, h, (ids, mask, pos, idx)


def previous_score(*args, **kwargs):
    "`_score` before the fixes (see `log_softmax_score`)."
    return log_softmax_score(*args, **kwargs, original=True)


def flat_sampler(probs, generator=None):
    "The previous inverse-CDF sampler (session 10): one float64 cumulative sum over the whole vocabulary."
    cdf = probs.double().cumsum(-1)
    total = cdf[:, -1:].contiguous()
    u = torch.rand(total.shape, dtype=torch.float64, device=probs.device, generator=generator)
    tok = torch.searchsorted(cdf, u * total, right=True)
    return torch.minimum(tok, torch.searchsorted(cdf, total, right=False)).squeeze(-1)


def previous_concat(query, query_mask, response, response_mask):
    "`concat_query_response` before it dropped the last response token: T = Q + R columns (the last one is never read)."
    B, Q = query.shape; R = response.shape[1]
    ids = torch.cat([query.masked_fill(query_mask == 0, 0), response.masked_fill(response_mask == 0, 0)], 1)
    mask = torch.cat([query_mask, response_mask], 1).long()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    last_q = torch.where(query_mask.bool(), torch.arange(Q), -1).amax(-1)
    idx = torch.cat([last_q[:, None], (Q + torch.arange(R - 1))[None].expand(B, -1)], 1)
    return ids, mask, pos, idx


def patched(fn, obj, name, value):
    "Run `fn` with `obj.name` temporarily set to `value`."
    def run():
        old = getattr(obj, name); setattr(obj, name, value)
        try: return fn()
        finally: setattr(obj, name, old)
    return run


def with_gelu_new(fn, models):
    "Run `fn` with transformers' Python `gelu_new` (NewGELUActivation) back in `models`, as before `fuse_gelu`."
    from transformers.activations import NewGELUActivation, GELUTanh
    def swap(frm, to):
        for model in models:
            for m in model.modules():
                for n, ch in list(m.named_children()):
                    if type(ch) is frm: setattr(m, n, to())
    def run():
        swap(GELUTanh, NewGELUActivation)
        try: return fn()
        finally: swap(NewGELUActivation, GELUTanh)
    return run


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
        best = {k: float("inf") for k in variants}; runs = {k: [] for k in variants}
        th = torch.get_num_threads()
        for _ in range(repeats):
            for k, fn in variants.items():   # busy time: wall, or CPU time / threads when other processes hold the cores
                t, c0 = time.perf_counter(), time.process_time(); fn()
                dt = min(time.perf_counter() - t, (time.process_time() - c0) / th)
                best[k] = min(best[k], dt); runs[k].append(dt)
        for k in variants: rows.append((name, k, best[k], sorted(runs[k])[len(runs[k]) // 2], floor))
        return best

    # --- generation: the library's inverse-CDF sampler vs torch.multinomial; the KV cache's share (torch.cat per layer and step)
    g = torch.Generator().manual_seed(0)
    def gen(): return agent.generate(rb.query, rb.query_mask, max_new_tokens=R, generator=g, eos_token_id=[], pad_token_id=c.pad_id)
    icdf = A.sample_from_probs
    def old_sampler(sampler):   # generate calls _inverse_cdf(probs, u) -> (tokens, valid); an old sampler drew its own numbers
        return lambda probs, u, block=128: (sampler(probs, generator=g), torch.ones((), dtype=torch.bool))
    gen_multinomial = patched(gen, A, "_inverse_cdf", old_sampler(multinomial_sampler))
    models = [m for m in (agent.policy, agent.value_model, ref.model, eng.rm.trunk) if m is not None]
    cat_cache = lambda fn: patched(fn, A, "_buffer_cache", lambda cache, extra: cache)   # 🤗's DynamicCache as it is: torch.cat per step
    ab("generation", fl["generation"], {"original (torch.multinomial, gelu_new, torch.cat cache)": cat_cache(with_gelu_new(gen_multinomial, models)),
                                        "7274779 (flat inverse CDF, gelu_new, torch.cat cache)": cat_cache(with_gelu_new(patched(gen, A, "_inverse_cdf", old_sampler(flat_sampler)), models)),
                                        "9c3d619 (two-level inverse CDF, fused GELU, torch.cat cache)": cat_cache(gen),
                                        "library (two-level inverse CDF, fused GELU, KV cache in a buffer)": gen})
    logits = torch.randn(B, c.vocab_size); p = logits.softmax(-1)
    tt = {}
    for k, fn in {"torch.multinomial(p, 1)": lambda: torch.multinomial(p, 1, generator=g),
                  "flat inverse-CDF": lambda: flat_sampler(p, generator=g),
                  "two-level inverse-CDF": lambda: icdf(p, generator=g),
                  "LM head": lambda: agent.policy.lm_head(torch.randn(B, 1, c.n_embd))}.items():
        tt[k] = min((lambda t0: (fn(), time.process_time() - t0)[1])(time.process_time()) for _ in range(10 * args.repeats)) / torch.get_num_threads()
    print(f"one decode step at (B,V) = ({B},{c.vocab_size}): " + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in tt.items()))
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof: gen()
    ka = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    tot = sum(ka.values())
    print(f"generate (library) under the profiler: matmuls {100 * (ka.get('aten::addmm', 0) + ka.get('aten::mm', 0)) / tot:.0f}%, "
          f"KV-cache torch.cat {100 * ka.get('aten::cat', 0) / tot:.0f}%, attention {100 * ka.get('aten::_scaled_dot_product_flash_attention_for_cpu', 0) / tot:.0f}% of op time")

    # --- reference pass: previously it computed the entropy and threw it away, and divided by T = 1
    orig_score = A._score
    def with_score(fn, score):
        def run():
            A._score = score
            try: return fn()
            finally: A._score = orig_score
        return run
    def ref_pass(): return tr._forward_nograd(ref, rb.query, rb.query_mask, rb.response, rb.response_mask, keys=("logprobs",))
    old_T = lambda fn: with_gelu_new(patched(fn, A, "concat_query_response", previous_concat), models)   # gelu_new, T = Q+R
    ab("reference", fl["reference"], {"original (entropy, /T, gelu_new, T = Q+R)": old_T(with_score(ref_pass, previous_score)),
                                      "7274779 (gelu_new, T = Q+R)": old_T(with_score(ref_pass, log_softmax_score)),
                                      "9c3d619 (log_softmax, fused GELU, T = Q+R-1)": with_score(ref_pass, log_softmax_score),
                                      "library (token_logprobs, fused GELU, T = Q+R-1)": ref_pass})

    # --- reward model: fused GELU; the pass in chunks of forward_batch_size instead of all B rows at once
    def reward_pass(): return tr.score(rb.query, rb.query_mask, rb.response, rb.response_mask)
    def reward_one_chunk():
        old = tr.config.forward_batch_size; tr.config.forward_batch_size = B
        try: return reward_pass()
        finally: tr.config.forward_batch_size = old
    ab("reward", fl["reward"], {"7274779 (gelu_new, one pass of B rows)": with_gelu_new(reward_one_chunk, models),
                                "library (fused GELU, chunks of forward_batch_size)": reward_pass})

    # --- update: one minibatch of the trainer (forward, backward, AdamW step) x the number of minibatches per iteration
    n_mb = c.ppo_epochs * c.num_mini_batches
    mb = rb[torch.arange(B // c.num_mini_batches)]
    params = [p for p in tr.model.parameters() if p.requires_grad]
    loop = torch.optim.AdamW(params, lr=1e-12, eps=1e-8)                # the previous default (per-tensor loop)
    fused = torch.optim.AdamW(params, lr=1e-12, eps=1e-8, fused=True)
    print(f"the trainer's optimizer: AdamW fused={tr.optimizer.param_groups[0].get('fused')}")
    def step_with(opt):
        def run():
            opt.zero_grad(set_to_none=True)
            loss, _ = tr.minibatch_loss(mb); loss.backward(); opt.step()
        return run
    res = ab("update minibatch", fl["update"] / n_mb, {
        "original (entropy in the graph, /T, AdamW for-loop, gelu_new, T = Q+R)": old_T(with_score(step_with(loop), previous_score)),
        "7274779 (gelu_new, T = Q+R)": old_T(with_score(step_with(fused), log_softmax_score)),
        "9c3d619 (log_softmax, fused GELU, T = Q+R-1)": with_score(step_with(fused), log_softmax_score),
        "library (token_logprobs, fused AdamW, fused GELU, T = Q+R-1)": step_with(fused)})

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

    # --- every dense and LM-head matmul of one update minibatch, forward and backward (dX, dW), alone, at the library's
    # shapes (T = Q+R-1 rows per sequence) and layouts; timed against the whole minibatch's floor: the "x floor" of this
    # row is the least the update's "x floor" can be with these matmul kernels if everything else (attention, GELU,
    # layer norms, the loss head, AdamW) took no time. With a separate critic its trunk's matmuls are counted too.
    T = Q + R - 1
    n_trunks = 2 if args.critic == "separate" else 1
    shapes = [(D, 3 * D), (D, D), (D, 4 * D), (4 * D, D)]
    acts = [torch.randn(m * T, k) for k, _ in shapes]; wts = [torch.randn(k, n) for k, n in shapes]
    grads = [torch.randn(m * T, n) for _, n in shapes]
    hv, wh, gh = torch.randn(m * R, D), torch.randn(V, D), torch.randn(m * R, V)
    def mm_fwd_bwd():
        for _ in range(L * n_trunks):
            for a, w, g in zip(acts, wts, grads): a @ w; g @ w.t(); a.t() @ g
        hv @ wh.t(); gh @ wh; gh.t() @ hv
    ab("update minibatch, matmuls alone", fl["update"] / n_mb, {"dense + LM head matmuls only (no attention)": mm_fwd_bwd})

    print(f"\n{'phase':34s} {'variant':72s} {'best s':>8s} {'median s':>9s} {'floor s':>8s} {'x floor':>8s} {'(median)':>9s}")
    for ph, k, t, med, f in rows: print(f"{ph:34s} {k:72s} {t:8.3f} {med:9.3f} {f / ceiling:8.3f} {t / (f / ceiling):8.2f} {med / (f / ceiling):9.2f}")
    print(f"\n(the update of one iteration is {n_mb} such minibatches; the matmuls alone run at {fl_mm / tm['torch.matmul only'] / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
