"""Is the FLOP floor right? Count the matmul FLOPs each phase of one instruct_goose PPO iteration (reference
configuration) really executes, with `torch.utils.flop_counter.FlopCounterMode`, and compare them with
`common.flop_floor`. On a CPU FlopCounterMode has no formula for SDPA's flash kernels: they are registered here twice,
as torch counts SDPA (every query against every key; backward 2.5x) and causally (only the keys a query may see).
Then the work the floor counts that no output needs: the last layer at positions whose output nobody reads.

    python benchmarks/flop_check.py --critic shared      # or separate; about a minute (one warm-up and one counted iteration)
"""
import argparse, os, sys, json, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import torch
from torch.utils.flop_counter import FlopCounterMode, mm_flop, addmm_flop, bmm_flop, baddbmm_flop
from common import BenchConfig, PhaseTimer, flop_floor, trunk_flops, head_flops
from ig_trainer_engine import TrainerEngine
aten = torch.ops.aten
torch.set_num_threads(1)
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--critic", choices=("shared", "separate"), default="shared")
ap.add_argument("--json", default=None, help="also write every count to this file")
args = ap.parse_args()
critic = args.critic
c = BenchConfig()
V, D = c.vocab_size, c.n_embd

def sdpa_counts(q, k, causal, mask):
    "full (SDPA formula) and causal-exact forward FLOPs"
    b, h, sq, d = q; sk = k[2]
    full = 4 * b * h * sq * sk * d
    if causal and mask is None: cz = 4 * b * h * d * sum(min(sk, i + sk - sq + 1) for i in range(sq))
    else: cz = full
    return full, cz

class Counter:
    "A FlopCounterMode whose matmul formulas also file each op into a category by shape."
    def __init__(self):
        self.cat = {}; self.shapes = {}
        def add(k, f, shp=None):
            self.cat[k] = self.cat.get(k, 0) + f
            if shp is not None: self.shapes[(k, shp)] = self.shapes.get((k, shp), 0) + 1
        def kind(*shapes):
            dims = [x for s in shapes for x in s]
            if V in dims: return "head"
            if 1 in dims: return "scalar_head"
            return "dense"
        def mm(a, b, *args, out_shape=None, **kw):
            f = mm_flop(a, b); k = kind(a, b); add(k, f); add(k + "_causal", f); return f
        def addmm(s, a, b, *args, out_shape=None, **kw):
            f = addmm_flop(s, a, b); k = kind(a, b); add(k, f); add(k + "_causal", f); return f
        def bmm(a, b, *args, out_shape=None, **kw):
            f = bmm_flop(a, b); add("attn", f); add("attn_causal", f); add("bmm!", f, (tuple(a), tuple(b))); return f
        def baddbmm(s, a, b, *args, out_shape=None, **kw):
            f = baddbmm_flop(s, a, b); add("attn", f); add("attn_causal", f); add("bmm!", f, (tuple(a), tuple(b))); return f
        def sdpa_cpu(q, k, v, dropout_p=0.0, is_causal=False, *args, attn_mask=None, out_shape=None, **kw):
            full, cz = sdpa_counts(q, k, is_causal, attn_mask)
            add("attn", full); add("attn_causal", cz); add("sdpa_fwd", 1, (tuple(q), tuple(k), bool(is_causal), attn_mask is not None)); return full
        def sdpa_cpu_bw(go, q, k, v, out, lse, dropout_p=0.0, is_causal=False, *args, attn_mask=None, out_shape=None, **kw):
            full, cz = sdpa_counts(q, k, is_causal, attn_mask)
            # torch's own formula for SDPA backward: 5 bmm (score recompute + 4 gradient products) = 2.5x forward
            add("attn", 2.5 * full); add("attn_causal", 2.5 * cz); add("sdpa_bwd", 1, (tuple(q), tuple(k), bool(is_causal), attn_mask is not None)); return int(2.5 * full)
        self.mode = FlopCounterMode(display=False, custom_mapping={
            aten.mm: mm, aten.addmm: addmm, aten.bmm: bmm, aten.baddbmm: baddbmm,
            aten._scaled_dot_product_flash_attention_for_cpu: sdpa_cpu,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: sdpa_cpu_bw})
    def total(self): return self.mode.get_total_flops()
    def ops(self): return {str(k): v for k, v in self.mode.get_flop_counts()["Global"].items()}

eng = TrainerEngine(c, critic, PhaseTimer())
eng.iteration()                                  # warm-up (its first iteration also runs the one-off reuse check)

C = {}
def wrap(obj, name, phase, only_nograd=False):
    f = getattr(obj, name)
    def w(*a, **k):
        if only_nograd and torch.is_grad_enabled(): return f(*a, **k)
        cnt = C.setdefault(phase, Counter())
        with cnt.mode: return f(*a, **k)
    setattr(obj, name, w)
wrap(eng.agent, "generate", "generation_incl")            # includes the separate critic's pass (subtracted below)
if critic == "separate": wrap(eng.agent, "_critic_values", "values", only_nograd=True)
wrap(eng.ref, "forward", "reference")
wrap(eng.rm, "forward", "reward")
wrap(eng.trainer, "step", "step_incl")                    # step = make_rollout + update
wrap(eng.trainer, "make_rollout", "make_rollout")
wrap(eng, "iteration", "iteration")
eng.iteration()

def phase(p):
    cats = dict(C[p].cat) if p in C else {}
    return cats
def sub(a, b): return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}
gen = sub(phase("generation_incl"), phase("values"))
upd = sub(phase("step_incl"), phase("make_rollout"))
meas = {"generation": gen, "reference": phase("reference"), "reward": phase("reward"), "values": phase("values"), "update": upd,
        "iteration": phase("iteration"), "make_rollout": phase("make_rollout")}
fl = flop_floor(c, critic == "separate")
out = {"critic": critic, "floor": fl, "measured": meas,
       "totals": {p: C[p].total() for p in C}, "ops": {p: C[p].ops() for p in C},
       "sdpa_calls": {p: {str(k[1]): n for k, n in C[p].shapes.items() if k[0] in ("sdpa_fwd", "sdpa_bwd")} for p in C},
       "bmm_calls": {p: {str(k[1]): n for k, n in C[p].shapes.items() if k[0] == "bmm!"} for p in C}}
if args.json: json.dump(out, open(args.json, "w"), indent=1, default=str)
G = 1e9
def unread(n): return c.episodes * (20 * D * D * n + 4 * D * n * (n + 1) // 2)   # the last layer's q-proj, out-proj, MLP and attention rows
Q, R = c.query_len, c.response_len
strict = {"generation": unread(Q - 1), "reference": unread(Q - 1), "reward": unread(Q + R - 1), "values": unread(Q - 1) if critic == "separate" else 0}
strict["update"] = c.ppo_epochs * 3 * (unread(Q - 1) + strict["values"])
print(f"config {c.n_layer} layers x D={D}, V={V}; {c.episodes} x ({Q} + {R}) tokens; critic {critic}. GFLOP per iteration:")
print(f"{'phase':11s} {'floor':>9s} {'measured':>9s} {'causal':>9s}  {'x floor':>7s}  {'unread last-layer work in the floor':>36s}")
for p in ("generation", "reference", "reward", "values", "update"):
    m = meas[p]
    full = sum(m.get(k, 0) for k in ("dense", "head", "scalar_head", "attn"))
    causal = sum(m.get(k, 0) for k in ("dense", "head", "scalar_head", "attn_causal"))
    if not fl[p] and not full: continue
    print(f"{p:11s} {fl[p]/G:9.3f} {full/G:9.3f} {causal/G:9.3f}  {causal/fl[p]:7.3f}  {strict[p]/G:26.2f} ({strict[p]/fl[p]:5.1%})")
tot = sum(strict.values())
print(f"(measured: torch's SDPA count; causal: only the keys each query sees. The unread work is {tot/G:.1f} GFLOP, "
      f"{tot/fl['total']:.1%} of the floor's {fl['total']/G:.1f}.)")
