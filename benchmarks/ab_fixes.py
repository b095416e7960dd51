"""A/B inside one process: the reference configuration's PPO iteration with the library as it is, and with one of
the CPU fixes of sessions 25-27 switched off at a time, iterations interleaved (so every variant meets the same machine state).

- `gelu`: fix 19 off, i.e. PyTorch's one-kernel tanh GELU (`GELUTanh`) instead of `TanhGELU`;
- `buffer`: fix 20 off, i.e. the LM head's logits as a fresh tensor in every pass;
- `step`: fix 21 off, i.e. `generate`'s decoding steps through 🤗's forward pass;
- `blocks`: fix 22 off, i.e. the LM head's product as one call over the whole (V, D) weight;
- `attend`: fix 23 off, i.e. the decoding steps' attention through `scaled_dot_product_attention` on the cache's filled view.

    python benchmarks/ab_fixes.py                       # shared trunk, 4 rounds
    python benchmarks/ab_fixes.py --critic separate --rounds 6

Prints, per variant, the median busy (CPU) seconds of a whole iteration, of its update and of its generation, and
the minor page faults per iteration. Fix 18 (`exp2` in the loss head) has no switch: its A/B was timed on the loss
head alone (benchmarks/README.md, fix 18)."""
from __future__ import annotations
import argparse, os, resource, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--scale", default="base")
    ap.add_argument("--quick", action="store_true", help="the small model (a smoke test)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from transformers.activations import GELUTanh
    import instruct_goose.agent as A
    from ppo_vs_trl import make_config
    from ig_trainer_engine import TrainerEngine
    from common import PhaseTimer
    timer = PhaseTimer()
    eng = TrainerEngine(make_config(args.quick, args.scale), args.critic, timer)
    roots = [m for m in (eng.agent, eng.ref, eng.rm) if m is not None]
    trunk = A._unwrap(eng.agent.policy).base_model
    head_logits, state = A._head_logits, {}
    blocked, attend = A._linear_into, A._step_attention
    def fused(cache, i, q, k, v, see, scale):                     # fix 23 off: the fused kernel on the filled view
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=see, scale=scale, enable_gqa=q.shape[1] != k.shape[1])
    def one_call(x, W, b, out):                                   # fix 22 off: one product over the whole weight
        x2, o2 = x.reshape(-1, x.shape[-1]), out.view(-1, W.shape[0])
        if b is None: torch.mm(x2, W.t(), out=o2)
        else: torch.addmm(b, x2, W.t(), out=o2)
    A._head_logits = lambda head, h, reuse: head_logits(head, h, reuse and state["buffer"])
    def configure(off:str|None):
        new = off != "gelu"
        for root in roots:
            for m in root.modules():
                for name, child in list(m.named_children()):
                    if type(child) in (GELUTanh, A.TanhGELU): setattr(m, name, A.TanhGELU() if new else GELUTanh())
        state["buffer"] = off != "buffer"
        A._step_checked[trunk] = off != "step" and A._check_step(trunk, A._STEPS[trunk.config.model_type])
        A._linear_into = one_call if off == "blocks" else blocked
        A._step_attention = fused if off == "attend" else attend
    variants = [None, "gelu", "buffer", "step", "blocks", "attend"]
    for v in variants: configure(v); eng.iteration()            # warm-up, every path once
    res = {v: [] for v in variants}
    for r in range(args.rounds):
        for v in variants:
            configure(v); timer.reset()
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0 = time.process_time(); eng.iteration(); cpu = time.process_time() - c0
            gen = eng.trainer.history[-1].get("time/generate", float("nan"))
            res[v].append((cpu, eng.update_cpu, gen, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0))
            print(f"round {r}: {v or 'all on':8s} {cpu:6.2f} busy s, update {eng.update_cpu:5.2f}", flush=True)
    print(f"\n{args.critic} critic, config {'quick' if args.quick else args.scale}, {args.rounds} rounds; medians:")
    print(f"{'variant':14s} {'busy s/iter':>11s} {'update s':>9s} {'generate s':>10s} {'page faults':>11s}")
    for v, rows in res.items():
        med = [statistics.median(x[i] for x in rows) for i in range(4)]
        print(f"{(v + ' off') if v else 'all on':14s} {med[0]:11.3f} {med[1]:9.3f} {med[2]:10.3f} {med[3]:11.0f}")


if __name__ == "__main__":
    main()
