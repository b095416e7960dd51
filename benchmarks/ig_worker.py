"""instruct_goose PPO worker: run in the project venv, driven one PPO iteration at a time by `ppo_vs_trl.py`
(same line protocol as `trl_worker.py`: wait for `step`, answer one `@@BENCH {json}` line).

`--critic shared` is instruct_goose's default (value head on the policy trunk: the values come with sampling and
with the update's single forward); `--critic separate` is TRL's algorithm and architecture (a separate GPT-2 critic).

`--engine trainer` runs `RLHFTrainer.step` (used when `instruct_goose/trainer.py` exists); `--engine loop` runs a
thin PPO loop written directly on `Agent`, `create_reference_model`, `RewardModel`, `gae` and `loss` (the same math,
used before the trainer existed and kept as the library-level floor of what the trainer can reach).

Phases are timed by wrapping the objects' methods: `Agent.generate` (generation), the separate critic's pass
(values), the reference model (reference), the reward model (reward); `update` is the PPO epochs."""
from __future__ import annotations
import argparse, os, sys, time, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
import torch.nn as nn
from common import BenchConfig, build_models, word_tokenizer, prompts, emit, wait_command, peak_rss_mib, PhaseTimer, set_threads, sync, peak_gpu_mib


def build_ig(c:BenchConfig, critic:str):
    "Agent (shared or separate critic), frozen reference, RewardModel: the same weights as the TRL worker's models."
    from instruct_goose.agent import Agent, create_reference_model
    from instruct_goose.reward import RewardModel
    policy, reward, value = build_models(c)
    tok = word_tokenizer(c)
    def head_from(seqcls):          # GPT2ForSequenceClassification.score has no bias: a Linear with bias 0, same weights
        h = nn.Linear(c.n_embd, 1)
        with torch.no_grad(): h.weight.copy_(seqcls.score.weight); h.bias.zero_()
        return h
    if critic == "separate": agent = Agent(policy, value_model=value.transformer, value_head=head_from(value))
    elif critic == "shared": agent = Agent(policy)
    else: raise ValueError(f"critic must be 'shared' or 'separate', got {critic!r}")
    ref = create_reference_model(agent)
    rm = RewardModel(reward, tok)
    with torch.no_grad(): rm.head.weight.copy_(reward.score.weight); rm.head.bias.zero_()
    rm.eval().requires_grad_(False)
    return agent, ref, rm, tok


def instrument(agent, ref, rm, timer:PhaseTimer):
    "Time each phase by wrapping the instances' methods (no library code is changed)."
    gen = agent.generate
    def generate(*a, **k):
        sync(); t0, c0 = time.perf_counter(), time.process_time(); v0, vc0 = timer.t.get("values", 0.0), timer.cpu.get("values", 0.0)
        try: return gen(*a, **k)
        finally:
            sync()   # the separate critic's pass inside generate is its own phase (values)
            timer.add("generation", time.perf_counter() - t0 - (timer.t.get("values", 0.0) - v0),
                      time.process_time() - c0 - (timer.cpu.get("values", 0.0) - vc0))
    agent.generate = generate
    if not agent.shared_critic:
        cv = agent._critic_values
        def critic_values(*a, **k):
            if torch.is_grad_enabled(): return cv(*a, **k)
            with timer("values"): return cv(*a, **k)
        agent._critic_values = critic_values
    rf = ref.forward
    def ref_forward(*a, **k):
        with timer("reference"): return rf(*a, **k)
    ref.forward = ref_forward
    rmf = rm.forward
    def rm_forward(*a, **k):
        with timer("reward"): return rmf(*a, **k)
    rm.forward = rm_forward


# ---------------------------------------------------------------- engine 1: a thin loop on the library's pieces
class LoopEngine:
    name = "loop"
    def __init__(self, c:BenchConfig, critic:str, timer:PhaseTimer):
        from instruct_goose.gae import compute_rewards, gae, masked_whiten, rollout_stats
        from instruct_goose.loss import policy_loss, value_loss
        self.F = dict(compute_rewards=compute_rewards, gae=gae, masked_whiten=masked_whiten, rollout_stats=rollout_stats,
                      policy_loss=policy_loss, value_loss=value_loss)
        self.c, self.timer = c, timer
        self.agent, self.ref, self.rm, self.tok = build_ig(c, critic)
        instrument(self.agent, self.ref, self.rm, timer)
        params = [p for p in self.agent.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=c.lr, eps=1e-8, weight_decay=0.0)
        self.gen = torch.Generator().manual_seed(c.seed)
        self.perm_gen = torch.Generator().manual_seed(c.seed + 7)
        self.pool = prompts(c, 10 * c.episodes); self.it = 0
        self.last = None            # the last rollout's tensors, for the naive check

    def next_prompts(self):
        B = self.c.episodes; n = len(self.pool) // B
        q = self.pool[(self.it % n) * B:(self.it % n + 1) * B]; self.it += 1
        return q, torch.ones_like(q)

    @torch.no_grad()
    def rollout(self, q, qm):
        c, F = self.c, self.F
        ro = self.agent.generate(q, qm, max_new_tokens=c.response_len, temperature=c.temperature, generator=self.gen,
                                 eos_token_id=[], pad_token_id=c.pad_id)
        ref_lp = self.ref(ro.query, ro.query_mask, ro.response, ro.response_mask, temperature=c.temperature).logprobs
        ids = torch.cat([ro.query, ro.response], 1); mask = torch.cat([ro.query_mask, ro.response_mask], 1)
        scores = self.rm(ids, mask)
        rewards, kl = F["compute_rewards"](scores, ro.logprobs, ref_lp, ro.response_mask, c.kl_coef)
        adv, ret = F["gae"](rewards, ro.values, ro.response_mask, c.gamma, c.lam)
        adv = F["masked_whiten"](adv, ro.response_mask)
        st = F["rollout_stats"](scores, kl, ro.response_mask, c.kl_coef)
        self.last = dict(query=ro.query, query_mask=ro.query_mask, response=ro.response, response_mask=ro.response_mask,
                         logprobs=ro.logprobs, ref_logprobs=ref_lp, values=ro.values, scores=scores,
                         rewards=rewards, kl=kl, advantages=adv, returns=ret)
        return self.last, {"kl": float(st["mean_kl"]), "score": float(st["mean_score"])}

    def minibatch_loss(self, b, idx):
        c, F = self.c, self.F
        out = self.agent(b["query"][idx], b["query_mask"][idx], b["response"][idx], b["response_mask"][idx], temperature=c.temperature)
        m = b["response_mask"][idx]
        pl, ps = F["policy_loss"](out.logprobs, b["logprobs"][idx], b["advantages"][idx], m, c.cliprange)
        vl, vs = F["value_loss"](out.values, b["values"][idx], b["returns"][idx], m, c.cliprange_value)
        return pl + c.vf_coef * vl, pl, vl, ps

    @torch.no_grad()
    def eval_loss(self, b):
        "Loss and statistics on the whole rollout `b` under the current weights (for the naive check)."
        self.agent.eval()
        loss, pl, vl, ps = self.minibatch_loss(b, torch.arange(len(b["query"])))
        return {"loss": loss, "policy_loss": pl, "value_loss": vl, "approxkl": ps["approxkl"], "clipfrac": ps["clipfrac"]}

    def update(self, b):
        c = self.c; B = c.episodes; mb = B // c.num_mini_batches
        self.agent.train(); stats = []
        for _ in range(c.ppo_epochs):
            perm = torch.randperm(B, generator=self.perm_gen)
            for s in range(0, B, mb):
                idx = perm[s:s + mb]
                loss, pl, vl, ps = self.minibatch_loss(b, idx)
                self.opt.zero_grad(set_to_none=True); loss.backward(); self.opt.step()
                stats.append((float(loss), float(pl), float(vl), float(ps["approxkl"]), float(ps["clipfrac"])))
        t = torch.tensor(stats).mean(0)
        return {"loss": float(t[0]), "policy_loss": float(t[1]), "value_loss": float(t[2]), "approxkl": float(t[3]), "clipfrac": float(t[4])}

    def iteration(self):
        q, qm = self.next_prompts()
        t0 = time.perf_counter()
        b, st = self.rollout(q, qm)
        t1, c1 = time.perf_counter(), time.process_time()
        st.update(self.update(b))
        t2 = time.perf_counter()
        self.update_cpu = time.process_time() - c1
        return t2 - t0, t1 - t0, t2 - t1, st


def make_engine(c:BenchConfig, critic:str, engine:str="auto"):
    "The trainer engine when `instruct_goose/trainer.py` exists (engine='auto'), else the thin loop."
    if engine == "auto":
        import importlib.util
        engine = "trainer" if importlib.util.find_spec("instruct_goose.trainer") is not None else "loop"
    timer = PhaseTimer()
    if engine == "loop":
        if os.environ.get("BENCH_BF16") == "1": raise SystemExit("--bf16 needs the trainer engine (the thin loop has no mixed precision)")
        return LoopEngine(c, critic, timer)
    from ig_trainer_engine import TrainerEngine
    return TrainerEngine(c, critic, timer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="BenchConfig as JSON")
    ap.add_argument("--critic", default="shared", choices=["shared", "separate"])
    ap.add_argument("--engine", default="auto", choices=["auto", "loop", "trainer"])
    args = ap.parse_args()
    c = BenchConfig.from_json(args.config)
    set_threads()
    t_setup = time.perf_counter()
    eng = make_engine(c, args.critic, args.engine)
    timer = eng.timer
    emit({"event": "ready", "setup_s": time.perf_counter() - t_setup, "rss_ready_mib": peak_rss_mib(), "engine": eng.name, "critic": args.critic,
          "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
          "threads": torch.get_num_threads()})
    while True:
        cmd = wait_command()
        if cmd != "step": break
        timer.reset(); c0 = time.process_time(); n_steps = locals().get("n_steps", 0) + 1
        prof = None
        if os.environ.get("BENCH_PROFILE") and n_steps == 2:          # profile the 2nd iteration into the log (stderr)
            from torch.profiler import profile, ProfilerActivity
            prof = profile(activities=[ProfilerActivity.CPU]); prof.__enter__()
        total, rollout, update, st = eng.iteration()
        if prof is not None:
            prof.__exit__(None, None, None)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30), file=sys.stderr, flush=True)
        cpu = time.process_time() - c0
        ph = dict(timer.t); ph["rollout"] = rollout; ph["update"] = update
        rss = dict(timer.rss); rss["update"] = peak_rss_mib()
        phc = dict(timer.cpu); phc["update"] = eng.update_cpu; phc["rollout"] = cpu - eng.update_cpu
        phc["rollout_other"] = phc["rollout"] - sum(phc.get(k, 0.0) for k in ("generation", "reference", "reward", "values"))
        ph["rollout_other"] = rollout - sum(ph.get(k, 0.0) for k in ("generation", "reference", "reward", "values"))
        emit({"event": "iteration", "seconds": total, "cpu_seconds": cpu, "phases": ph, "phases_cpu": phc, "peak_rss_mib": peak_rss_mib(), "gpu_peak_mib": peak_gpu_mib(), "rss_after_phase": rss, "stats": st})
    emit({"event": "bye", "peak_rss_mib": peak_rss_mib()})


if __name__ == "__main__":
    main()
