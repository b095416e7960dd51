"""Identical math is a precondition of the speed comparison: run instruct_goose's first PPO iteration and recompute
everything from its rollout tensors with a naive plain-PyTorch PPO (full forward passes of the initial models,
a Python-loop GAE, hand-written whitening and clipped losses), then compare.

    python benchmarks/naive_check.py --critic shared      # or separate; --quick for the small model

What is compared (max abs difference):
- rollout: sampling-time logprobs (KV cache) vs a full forward of the initial policy (with transformers' own modules
  throughout: its GELU, attention, log-softmax; none of the library's faster forms); reference logprobs; values;
  reward-model scores; per-token KL; rewards; advantages (whitened); returns;
- loss: after the iteration's update the policy has moved (ratio != 1); the library's policy loss, value loss,
  total loss, approx. KL and clip fraction on the whole rollout vs the naive ones under the updated weights.
  The check runs with a large learning rate so that the ratio leaves [1-eps, 1+eps] and clipping is exercised."""
from __future__ import annotations
import argparse, copy, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from common import BenchConfig


def naive_forward(policy, value_trunk, value_head, q, r, temperature):
    "Plain full passes: (logprobs (B,R), values (B,R)) of response r after query q (no padding)."
    Q = q.shape[1]; ids = torch.cat([q, r], 1)
    out = policy(input_ids=ids, output_hidden_states=True)
    logits = out.logits[:, Q - 1:-1].float() / temperature
    lp = torch.log_softmax(logits, -1).gather(-1, r[..., None]).squeeze(-1)
    h = (out.hidden_states[-1] if value_trunk is None else value_trunk(input_ids=ids).last_hidden_state)[:, Q - 1:-1]
    return lp, value_head(h).squeeze(-1)

def naive_gae(rewards, values, gamma, lam):
    B, R = rewards.shape; adv = torch.zeros_like(rewards); last = torch.zeros(B)
    for t in reversed(range(R)):
        nxt = values[:, t + 1] if t + 1 < R else torch.zeros(B)
        delta = rewards[:, t] + gamma * nxt - values[:, t]
        last = delta + gamma * lam * last; adv[:, t] = last
    return adv, adv + values

def naive_loss(lp, v, old_lp, old_v, adv, ret, c):
    ratio = torch.exp(lp - old_lp)
    pg1, pg2 = -adv * ratio, -adv * ratio.clamp(1 - c.cliprange, 1 + c.cliprange)
    pg = torch.maximum(pg1, pg2).mean()
    vc = old_v + (v - old_v).clamp(-c.cliprange_value, c.cliprange_value)
    vf = 0.5 * torch.maximum((v - ret) ** 2, (vc - ret) ** 2).mean()
    return {"policy_loss": pg, "value_loss": vf, "loss": pg + c.vf_coef * vf,
            "approxkl": (old_lp - lp).mean(), "clipfrac": (pg2 > pg1).float().mean()}


def plain(model):
    """A copy of `model` with transformers' own activation modules: the library swaps GPT-2's `gelu_new` for a faster
    form of the same function (`instruct_goose.agent.TanhGELU`); the naive side computes it as transformers does."""
    from transformers.activations import ACT2FN
    from instruct_goose.agent import TanhGELU
    m = copy.deepcopy(model)
    act = getattr(getattr(m, "config", None), "activation_function", "gelu_new")
    for mod in m.modules():
        for name, child in list(mod.named_children()):
            if isinstance(child, TanhGELU): setattr(mod, name, ACT2FN[act])
    return m


@torch.no_grad()
def check_iteration(eng, c:BenchConfig) -> dict:
    "Run one iteration of `eng` and compare with the naive recomputation; returns {name: max abs diff} and the values."
    agent, ref, rm = eng.agent, eng.ref, eng.rm
    policy0 = plain(agent.policy).eval()
    vtrunk0 = None if agent.shared_critic else plain(agent.value_model).eval()
    vhead0 = copy.deepcopy(agent.value_head)
    with torch.enable_grad(): eng.iteration()
    b = eng.last
    q, r = b["query"], b["response"]
    assert bool(b["query_mask"].all()) and bool(b["response_mask"].all()), "the check assumes no padding (fixed-length prompts, no EOS)"
    lp0, v0 = naive_forward(policy0, vtrunk0, vhead0, q, r, c.temperature)
    ids = torch.cat([q, r], 1); Q = q.shape[1]
    ref_lp = torch.log_softmax(plain(ref.lm)(input_ids=ids).logits[:, Q - 1:-1].float() / c.temperature, -1).gather(-1, r[..., None]).squeeze(-1)
    h = plain(rm.trunk)(input_ids=ids).last_hidden_state[:, -1]
    scores = (rm.head(h).squeeze(-1) - rm.norm_mean) / rm.norm_std
    kl = lp0 - ref_lp
    rewards = -c.kl_coef * kl; rewards[:, -1] += scores
    adv, ret = naive_gae(rewards, v0, c.gamma, c.lam)
    adv = (adv - adv.mean()) / torch.sqrt(adv.var(unbiased=True) + 1e-8)
    # after the update: the library's loss vs the naive one, same rollout, updated weights
    lp1, v1 = naive_forward(plain(agent.policy).eval(), None if agent.shared_critic else plain(agent.value_model).eval(), agent.value_head, q, r, c.temperature)
    naive = naive_loss(lp1, v1, lp0, v0, adv, ret, c)
    lib = eng.eval_loss(b)
    diffs = {"logprobs (KV cache vs full pass)": (b["logprobs"] - lp0).abs().max(), "ref_logprobs": (b["ref_logprobs"] - ref_lp).abs().max(),
             "values": (b["values"] - v0).abs().max(), "scores": (b["scores"] - scores).abs().max(), "kl": (b["kl"] - kl).abs().max(),
             "rewards": (b["rewards"] - rewards).abs().max(), "advantages": (b["advantages"] - adv).abs().max(),
             "returns": (b["returns"] - ret).abs().max()}
    diffs.update({k: abs(float(lib[k]) - float(naive[k])) for k in naive})
    return {"max_abs_diff": {k: float(v) for k, v in diffs.items()},
            "library": {k: float(lib[k]) for k in naive}, "naive": {k: float(v) for k, v in naive.items()},
            "rollout": {"mean_kl": float(kl.sum(1).mean()), "mean_score": float(scores.mean()), "mean_value": float(v0.mean()),
                        "adv_abs_mean": float(adv.abs().mean())}}


def check(eng, c:BenchConfig, n_iterations:int=2) -> dict:
    """Iterations 1..n: the first has KL = 0 (policy = reference) and, with the default zero value head, values = 0;
    the second compares non-trivial KL and values too."""
    its = [check_iteration(eng, c) for _ in range(n_iterations)]
    worst = {k: max(it["max_abs_diff"][k] for it in its) for k in its[0]["max_abs_diff"]}
    return {"max_abs_diff": worst, "iterations": its}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--engine", default="auto", choices=["auto", "loop", "trainer"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lr", type=float, default=1e-3, help="large on purpose: the ratio must leave the clip range")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json", default=None, help="also write the full comparison to this file")
    args = ap.parse_args()
    from ppo_vs_trl import make_config
    c = make_config(args.quick, scale="base"); c.lr = args.lr
    from ig_worker import make_engine
    eng = make_engine(c, args.critic, args.engine)
    res = check(eng, c)
    res["ok"] = all(v <= args.tol for v in res["max_abs_diff"].values())
    res.update(engine=eng.name, critic=args.critic, lr=args.lr, tol=args.tol)
    if args.json: open(args.json, "w").write(json.dumps(res, indent=1))
    print(f"engine {eng.name}, critic {args.critic}, lr {args.lr} (check run only), {len(res['iterations'])} iterations")
    for i, it in enumerate(res["iterations"], 1):
        ro, lib, nv = it["rollout"], it["library"], it["naive"]
        print(f"iteration {i}: KL/response {ro['mean_kl']:.4f}, mean score {ro['mean_score']:.4f}, mean value {ro['mean_value']:.4f}, "
              f"|advantage| {ro['adv_abs_mean']:.4f}; after the update: loss {lib['loss']:.6f} (naive {nv['loss']:.6f}), "
              f"clipfrac {lib['clipfrac']:.3f} (naive {nv['clipfrac']:.3f})")
    print(f"{'quantity':36s} max |library - naive| over the iterations")
    for k, v in res["max_abs_diff"].items(): print(f"{k:36s} {v:.2e}")
    print("OK: identical math within" if res["ok"] else "MISMATCH: above", f"tol={args.tol}")
    sys.exit(0 if res["ok"] else 1)


if __name__ == "__main__":
    main()
