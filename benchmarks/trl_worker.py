"""TRL 1.12.0 PPO worker: run inside benchmarks/.venv-trl, driven one PPO iteration at a time by `ppo_vs_trl.py`.

Protocol: the worker builds everything, then waits for a line on stdin; on `step` it runs one PPO iteration
(`PPOTrainer.train`'s loop is paused between iterations by a callback) and answers one `@@BENCH {json}` line on
stdout with the wall time, the per-phase split, peak RSS and TRL's own statistics; `quit` ends it.

Phases are timed by wrapping the module-level functions `PPOTrainer.train` calls: `batch_generation` (sampling),
`forward` (reference pass without grad, policy+critic pass with grad in the update) and `get_reward` (reward model
and value model passes, told apart by the model). `update` = from the first forward with grad to the end of the
iteration (it also holds TRL's stats bookkeeping, which is small)."""
from __future__ import annotations
import argparse, os, sys, tempfile, time, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
warnings.filterwarnings("ignore")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("ACCELERATE_USE_CPU", "false" if os.environ.get("BENCH_DEVICE") == "cuda" else "true")

import torch
from common import BenchConfig, build_models, word_tokenizer, prompts, emit, wait_command, peak_rss_mib, PhaseTimer, set_threads, sync, peak_gpu_mib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="BenchConfig as JSON")
    args = ap.parse_args()
    c = BenchConfig.from_json(args.config)
    set_threads()
    t_setup = time.perf_counter()

    import trl
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer
    import trl.experimental.ppo.ppo_trainer as pt

    policy, reward, value = build_models(c)
    tok = word_tokenizer(c)
    ds = Dataset.from_dict({"input_ids": prompts(c, 10 * c.episodes).tolist()})
    out_dir = tempfile.mkdtemp(prefix="trl_bench_")
    cfg = PPOConfig(
        output_dir=out_dir, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        bf16=os.environ.get("BENCH_BF16") == "1", fp16=False, seed=c.seed, learning_rate=c.lr,   # --bf16: TRL's default, autocast in its update (its rollout passes stay fp32)
        **({"use_cpu": True} if os.environ.get("BENCH_BF16") == "1" and os.environ.get("BENCH_DEVICE") != "cuda" else {}),   # bf16 on a CPU: 🤗 asks for it
        # rollout batch = per_device_train_batch_size x gradient_accumulation_steps = B; one optimizer step per
        # minibatch of B/num_mini_batches (grad accumulation > 1 would make accelerate step once per epoch here)
        per_device_train_batch_size=c.episodes, gradient_accumulation_steps=1, num_mini_batches=c.num_mini_batches,
        local_rollout_forward_batch_size=min(c.episodes, 64), num_ppo_epochs=c.ppo_epochs,
        total_episodes=10**9, response_length=c.response_len,
        temperature=c.temperature, stop_token=None, stop_token_id=None, missing_eos_penalty=None,
        num_sample_generations=0, kl_coef=c.kl_coef, kl_estimator="k1", cliprange=c.cliprange,
        cliprange_value=c.cliprange_value, vf_coef=c.vf_coef, gamma=c.gamma, lam=c.lam, whiten_rewards=False,
    )
    timer = PhaseTimer()
    state = {"update_start": None, "logs": {}}

    _gen, _fwd, _rew = pt.batch_generation, pt.forward, pt.get_reward
    def batch_generation(*a, **k):
        with timer("generation"): return _gen(*a, **k)
    def forward(model, *a, **k):
        if torch.is_grad_enabled():
            if state["update_start"] is None: sync(); state["update_start"], state["update_c0"] = time.perf_counter(), time.process_time()
            return _fwd(model, *a, **k)
        with timer("reference"): return _fwd(model, *a, **k)
    def get_reward(model, *a, **k):
        with timer("reward" if model is reward else "values"): return _rew(model, *a, **k)
    pt.batch_generation, pt.forward, pt.get_reward = batch_generation, forward, get_reward

    class Pace(TrainerCallback):
        "Pause before each iteration until the driver says `step`; report the iteration after it."
        def _wait(self):
            cmd = wait_command()
            if cmd != "step":
                emit({"event": "bye", "peak_rss_mib": peak_rss_mib()}); sys.__stdout__.flush(); os._exit(0)
            if cmd == "step" and os.environ.get("BENCH_PROFILE") and state.get("n", 0) == 1:   # profile the 2nd iteration
                from torch.profiler import profile, ProfilerActivity
                state["prof"] = profile(activities=[ProfilerActivity.CPU]); state["prof"].__enter__()
            state["n"] = state.get("n", 0) + 1
            sync(); timer.reset(); state["update_start"] = None; state["t0"] = time.perf_counter(); state["c0"] = time.process_time()
        def on_train_begin(self, args, st, control, **kw):
            emit({"event": "ready", "setup_s": time.perf_counter() - t_setup, "rss_ready_mib": peak_rss_mib(), "versions": {
                "trl": trl.__version__, "torch": torch.__version__, "transformers": __import__("transformers").__version__},
                "threads": torch.get_num_threads(), "n_params_policy": sum(p.numel() for p in policy.parameters())})
            self._wait()
        def on_log(self, args, st, control, logs=None, **kw): state["logs"] = dict(logs or {})
        def on_step_end(self, args, st, control, **kw):
            sync(); t1 = time.perf_counter()
            if state.get("prof") is not None:
                state["prof"].__exit__(None, None, None)
                print(state["prof"].key_averages().table(sort_by="self_cpu_time_total", row_limit=30), file=sys.stderr, flush=True)
                state["prof"] = None
            total = t1 - state["t0"]
            ph = dict(timer.t)
            upd = t1 - state["update_start"]
            ph["update"] = upd
            ph["rollout"] = total - upd
            ph["rollout_other"] = ph["rollout"] - sum(ph.get(k, 0.0) for k in ("generation", "reference", "reward", "values"))
            L = state["logs"]
            rss = dict(timer.rss); rss["update"] = peak_rss_mib()
            cpu = time.process_time() - state["c0"]
            phc = dict(timer.cpu); phc["update"] = time.process_time() - state["update_c0"]; phc["rollout"] = cpu - phc["update"]
            phc["rollout_other"] = phc["rollout"] - sum(phc.get(k, 0.0) for k in ("generation", "reference", "reward", "values"))
            emit({"event": "iteration", "seconds": total, "rss_after_phase": rss, "cpu_seconds": cpu, "phases": ph, "phases_cpu": phc, "peak_rss_mib": peak_rss_mib(), "gpu_peak_mib": peak_gpu_mib(),
                  "stats": {"kl": L.get("objective/kl"), "score": L.get("objective/scores"),
                            "policy_loss": L.get("loss/policy_avg"), "value_loss": L.get("loss/value_avg"),
                            "approxkl": L.get("policy/approxkl_avg"), "clipfrac": L.get("policy/clipfrac_avg")}})
            self._wait()

    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=None, reward_model=reward,
                         train_dataset=ds, value_model=value, eval_dataset=ds.select(range(c.episodes)), callbacks=[Pace()])
    trainer.train()


if __name__ == "__main__":
    main()
