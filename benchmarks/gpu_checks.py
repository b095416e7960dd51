"""What only a real GPU can show: the library's numbers under fp32, bf16 and fp16 (skipped fp16 steps against the LR
schedule), layers offloaded to the CPU with `device_map`, and the host syncs of `Agent.generate` and of the PPO update. Models are built from config (no downloads, no shared data).

    python benchmarks/gpu_checks.py                  # every check, each in a fresh process (accelerate fixes the precision per process)
    python benchmarks/gpu_checks.py --device cpu     # the same on the CPU (a dry run: fp16 and sync counting are skipped)

Prints one line per check (PASS / FAIL / SKIP with its numbers) and a JSON line per check; exits 1 if any failed.
`benchmarks/gpu_session.sh` runs it on a lent GPU together with the GPU rows of `ppo_vs_trl.py`.
"""
from __future__ import annotations
import argparse, json, math, os, subprocess, sys, time, warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
CHECKS = ["fp32", "bf16", "fp16", "offload", "generate", "syncs"]


def small():
    from common import BenchConfig
    return BenchConfig(episodes=16, query_len=16, response_len=16, num_mini_batches=2, ppo_epochs=2, lr=1e-5)

def trainer(c, device, precision, policy=None, ref=None, accelerator=None):
    "An RLHFTrainer over the benchmark's models (shared critic), on `device`, with `precision`."
    import tempfile
    from datasets import Dataset
    from common import prompts
    from ig_worker import build_ig
    from instruct_goose import Agent, RLHFConfig, RLHFTrainer, create_reference_model
    agent, ref0, rm, tok = build_ig(c, "shared")
    if policy is not None: agent = Agent(policy); ref0 = create_reference_model(agent) if ref is None else None
    rm.to(device)
    cfg = RLHFConfig(lr=c.lr, batch_size=c.episodes, mini_batch_size=c.episodes // c.num_mini_batches, ppo_epochs=c.ppo_epochs,
                     max_new_tokens=c.response_len, top_k=None, seed=0, output_dir=tempfile.mkdtemp(prefix="ig_gpu_"),
                     mixed_precision=precision, forward_batch_size=c.episodes)
    tr = RLHFTrainer(agent, ref if ref is not None else ref0, cfg, reward_fn=rm, tokenizer=tok, accelerator=accelerator)
    return tr, Dataset.from_dict({"input_ids": prompts(c, 4 * c.episodes).tolist()})

def finite(d): return all(math.isfinite(v) for k, v in d.items() if isinstance(v, float) and k != "grad_norm")   # inf when fp16 overflowed

def check_precision(device, precision):
    """Iteration 1 starts at policy == reference: KL 0 and first ratio 1 (up to the precision's rounding); 3 iterations train.
    fp16: the loss scaler starts at 2^32 so that the first updates overflow (fp16 holds at most 65504) and are skipped
    (the scale halves each time); the LR schedule must step only for the real updates."""
    import torch
    if precision == "fp16" and device == "cpu": return "SKIP", {"why": "fp16 autocast needs a GPU"}
    acc = None
    if precision == "fp16":
        from accelerate import Accelerator
        from accelerate.utils import GradScalerKwargs
        acc = Accelerator(mixed_precision="fp16", kwargs_handlers=[GradScalerKwargs(init_scale=2.0 ** 32)])
    c = small()
    tr, ds = trainer(c, device, None if precision == "fp32" else precision, accelerator=acc)
    steps, skipped = [0], [0]
    step, scaler = tr.optimizer.step, tr.accelerator.scaler
    def counting(*a, **k):
        before = scaler.get_scale() if scaler is not None else None
        out = step(*a, **k); steps[0] += 1
        skipped[0] += scaler is not None and scaler.get_scale() < before      # the scale shrinks only after an overflow
        return out
    tr.optimizer.step = counting
    t0 = time.perf_counter(); tr.train(ds, num_iterations=3, progress=False); secs = time.perf_counter() - t0
    h = tr.history
    out = dict(precision=precision, device=str(tr.accelerator.device), kl_iter1=h[0]["kl"], first_ratio_mean=h[0]["first_ratio_mean"],
               first_approxkl=h[0]["first_approxkl"], reuse_error=tr.reuse_error, steps=steps[0], skipped=skipped[0],
               scheduler_steps=tr.scheduler.last_epoch, final_scale=scaler.get_scale() if scaler is not None else None,
               policy_loss=[x["policy_loss"] for x in h], kl=[x["kl"] for x in h], seconds=secs)
    tol = {"fp32": 1e-5, "bf16": 1e-3, "fp16": 1e-3}[precision]
    ok = (abs(out["kl_iter1"]) <= tol and abs(out["first_ratio_mean"] - 1) <= tol and all(finite(x) for x in h)
          and out["scheduler_steps"] == steps[0] - skipped[0] and str(tr.accelerator.device).startswith(device)
          and (precision != "fp16" or skipped[0] > 0))
    return ("PASS" if ok else "FAIL"), out

def check_offload(device):
    """A device_map with "cpu" entries offloads those layers (weights on the meta device, copied to the GPU per forward):
    generation from CPU ids works and keeps the log-probs of a forward pass; the trainer refuses an offloaded policy;
    an offloaded reference model serves a PPO iteration (KL 0 at iteration 1)."""
    import copy, torch
    from accelerate import dispatch_model
    from common import build_models, prompts
    from instruct_goose import Agent
    if device == "cpu": return "SKIP", {"why": "needs a GPU to offload from"}
    c = small()
    dm = {"transformer.wte": 0, "transformer.wpe": 0, "transformer.drop": 0, "transformer.h.0": 0, "transformer.h.1": 0,
          "transformer.h.2": "cpu", "transformer.h.3": "cpu", "transformer.ln_f": "cpu", "lm_head": 0}
    policy = build_models(c)[0]
    offloaded = dispatch_model(copy.deepcopy(policy), device_map=dm)
    agent = Agent(offloaded)
    q = prompts(c, 8); m = torch.ones_like(q)
    ro = agent.generate(q, m, max_new_tokens=c.response_len, generator=torch.Generator().manual_seed(0), eos_token_id=[], pad_token_id=c.pad_id)
    fw = agent(ro.query, ro.query_mask, ro.response, ro.response_mask)
    err = float((fw.logprobs.float() - ro.logprobs.to(fw.logprobs.device)).abs().max())
    ref = dispatch_model(copy.deepcopy(policy), device_map=dm).requires_grad_(False)
    try: trainer(c, device, None, policy=offloaded, ref=ref); refused = ""
    except ValueError as e: refused = str(e)
    tr, ds = trainer(c, device, None, policy=policy.to(device), ref=ref)
    tr.train(ds, num_iterations=1, progress=False)
    out = dict(logprob_reuse_error=err, response_device=str(ro.response.device), trainer_refused=refused, kl_iter1=tr.history[0]["kl"],
               offloaded_devices=sorted({str(p.device) for p in offloaded.parameters()}))
    ok = err < 1e-3 and "offloaded weights cannot be trained" in refused and finite(tr.history[0]) and abs(out["kl_iter1"]) < 1e-4
    return ("PASS" if ok else "FAIL"), out

def check_generate(device):
    "GPT-2 small shape, 64 rows x (32 + 32) tokens: generated tokens/s, and host syncs per decode step (CUDA's sync debug mode)."
    import torch
    from common import BenchConfig, build_models, prompts
    from instruct_goose import Agent
    c = BenchConfig(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024, episodes=64)
    if device == "cpu": c = small()
    agent = Agent(build_models(c)[0].to(device))
    q = prompts(c, c.episodes); m = torch.ones_like(q)
    g = torch.Generator().manual_seed(0)
    def run(): return agent.generate(q, m, max_new_tokens=c.response_len, generator=g, eos_token_id=[], pad_token_id=c.pad_id, return_values=False)
    run()
    times = []
    for _ in range(3):
        if device == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter(); run()
        if device == "cuda": torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    out = dict(rows=c.episodes, new_tokens=c.response_len, seconds=min(times), tokens_per_s=c.episodes * c.response_len / min(times))
    if device == "cuda":
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn"); run(); torch.cuda.set_sync_debug_mode("default")
        out["host_syncs"] = sum("synchroniz" in str(x.message) for x in w)
        out["host_syncs_per_step"] = out["host_syncs"] / c.response_len
    return "PASS", out

def check_syncs(device):
    """Host syncs of one PPO update (`step` on a rollout made beforehand): on a GPU counted by CUDA's sync debug mode, on
    the CPU as reads of tensor values at the dispatcher (what would sync on a GPU). Per minibatch the library reads once (its
    deferred input checks); 🤗's attention-mask checks inside the model add one per pass (two with padded prompts)."""
    import torch
    c = small()
    tr, ds = trainer(c, device, None)
    make, kept = tr.make_rollout, {}
    def keep_rollout(*a, **k):
        kept["rb"] = make(*a, **k); return kept["rb"]
    tr.make_rollout = keep_rollout
    tr.train(ds, num_iterations=2, progress=False)             # a warm-up; iteration 2's rollout is kept
    rb = kept["rb"]
    tr.make_rollout = lambda *a, **k: rb                       # step() takes it as is: only the update runs and is counted
    args = (rb.query, rb.response, rb.scores, rb.query_mask, rb.response_mask)
    if device == "cuda":
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn"); tr.step(*args); torch.cuda.set_sync_debug_mode("default")
        n = sum("synchroniz" in str(x.message) for x in w)
    else:
        from instruct_goose.data import HostReads
        with HostReads() as h: tr.step(*args)
        n = h.n
    n_mb = c.ppo_epochs * c.num_mini_batches
    return "PASS", dict(minibatches=n_mb, update_host_syncs=n, per_minibatch=round(n / n_mb, 2),
                        counted_as="CUDA sync debug warnings" if device == "cuda" else "host reads at the dispatcher (CPU)")

def one(name, device):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False     # fp32 means fp32 here (the benchmark's rows use TF32)
    if name in ("fp32", "bf16", "fp16"): return check_precision(device, name)
    if name == "offload": return check_offload(device)
    if name == "syncs": return check_syncs(device)
    return check_generate(device)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--check", default=None, choices=CHECKS, help="run one check in this process")
    ap.add_argument("--out", default=None, help="append the JSON lines to this file")
    a = ap.parse_args()
    if a.check:
        warnings.filterwarnings("ignore")
        if a.device == "cpu": os.environ["ACCELERATE_USE_CPU"] = "true"
        try: status, out = one(a.check, a.device)
        except Exception as e:
            import traceback; traceback.print_exc(); status, out = "FAIL", {"error": f"{type(e).__name__}: {e}"}
        print("@@CHECK " + json.dumps(dict(check=a.check, status=status, **out)), flush=True)
        return
    failed = 0
    for name in CHECKS:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--check", name, "--device", a.device], capture_output=True, text=True)
        line = next((l[8:] for l in p.stdout.splitlines() if l.startswith("@@CHECK ")), None)
        res = json.loads(line) if line else {"check": name, "status": "FAIL", "error": (p.stderr or p.stdout)[-2000:]}
        failed += res["status"] == "FAIL"
        print(f"{res['status']:4s} {name:8s} {time.perf_counter() - t0:6.1f} s  " + json.dumps({k: v for k, v in res.items() if k not in ('check', 'status')}), flush=True)
        if res["status"] == "FAIL" and p.stderr: print(p.stderr[-3000:], flush=True)
        if a.out:
            with open(a.out, "a") as f: f.write(json.dumps(res) + "\n")
    sys.exit(1 if failed else 0)

if __name__ == "__main__": main()
