"""instruct_goose's `RLHFTrainer` as a benchmark engine: one PPO iteration = one more iteration of `RLHFTrainer.train`
(generate, score with the RewardModel, reuse generate's logprobs/values, `step`), with TRL's hyperparameters."""
from __future__ import annotations
import os, tempfile, time
import torch
from common import BenchConfig, prompts, PhaseTimer, bench_device, sync


class TrainerEngine:
    name = "trainer"
    def __init__(self, c:BenchConfig, critic:str, timer:PhaseTimer):
        from datasets import Dataset
        from instruct_goose.trainer import RLHFTrainer, RLHFConfig
        from ig_worker import build_ig, instrument
        self.c, self.timer = c, timer
        self.agent, self.ref, self.rm, self.tok = build_ig(c, critic)
        instrument(self.agent, self.ref, self.rm, timer)
        self.rm.to(bench_device())      # the trainer moves the policy and the reference to its device, not the reward model
        B = c.episodes
        cfg = RLHFConfig(lr=c.lr, adam_eps=1e-8, lr_schedule="constant",  # TRL: AdamW eps 1e-8; its linear decay spans 1e9 episodes
                         batch_size=B, mini_batch_size=B // c.num_mini_batches, gradient_accumulation_steps=1,
                         ppo_epochs=c.ppo_epochs, max_grad_norm=None,        # TRL's PPO loop does not clip gradients
                         cliprange=c.cliprange, cliprange_value=c.cliprange_value, vf_coef=c.vf_coef, ent_coef=0.0,
                         gamma=c.gamma, lam=c.lam, whiten_rewards=False, whiten_advantages=True,
                         init_kl_coef=c.kl_coef, adaptive_kl=False, kl_estimator="k1",
                         max_new_tokens=c.response_len, temperature=c.temperature, top_k=None, top_p=None,
                         seed=c.seed, output_dir=tempfile.mkdtemp(prefix="ig_bench_"),
                         compile=os.environ.get("BENCH_COMPILE") == "1",   # RLHFConfig(compile=True) when BENCH_COMPILE=1
                         mixed_precision="bf16" if os.environ.get("BENCH_BF16") == "1" else None,   # --bf16: bf16 autocast, fp32 weights
                         # on a GPU the no-grad passes run in chunks of 64 rows, as TRL's local_rollout_forward_batch_size;
                         # on CPU the library's default (the minibatch size)
                         **({"forward_batch_size": min(B, 64)} if bench_device() == "cuda" else {}))
        self.trainer = RLHFTrainer(self.agent, self.ref, cfg, reward_fn=self.rm, tokenizer=self.tok)
        self.prompts = Dataset.from_dict({"input_ids": prompts(c, 10 * B).tolist()})
        # CPU seconds of the update = step() minus its make_rollout() (instance wrappers; the trainer is unchanged)
        self._cpu = {}
        for name in ("step", "make_rollout"):
            f = getattr(self.trainer, name)
            def wrapped(*a, _f=f, _n=name, **k):
                c0 = time.process_time()
                try: return _f(*a, **k)
                finally: self._cpu[_n] = self._cpu.get(_n, 0.0) + time.process_time() - c0
            setattr(self.trainer, name, wrapped)
        self.last = None

    def iteration(self):
        tr = self.trainer
        sync(); t0 = time.perf_counter(); self._cpu = {}
        tr.train(self.prompts, num_iterations=tr.iteration + 1, progress=False)
        sync(); total = time.perf_counter() - t0
        self.update_cpu = self._cpu.get("step", 0.0) - self._cpu.get("make_rollout", 0.0)
        st = tr.history[-1]
        update = st["time/train"]
        rb = tr.last_rollout
        self.last = dict(query=rb.query, query_mask=rb.query_mask, response=rb.response, response_mask=rb.response_mask,
                         logprobs=rb.old_logprobs, ref_logprobs=rb.ref_logprobs, values=rb.old_values, scores=rb.scores,
                         rewards=rb.rewards, kl=rb.kl, advantages=rb.advantages, returns=rb.returns, _rb=rb)
        out = {"kl": st.get("kl"), "score": st.get("score_mean"), "policy_loss": st.get("policy_loss"),
               "value_loss": st.get("value_loss"), "approxkl": st.get("approxkl"), "clipfrac": st.get("clipfrac"),
               "trainer_timings": {k: v for k, v in st.items() if k.startswith("time/")}, "reuse_error": tr.reuse_error}
        return total, total - update, update, out

    @torch.no_grad()
    def eval_loss(self, b):
        "The trainer's own minibatch loss and statistics on the whole rollout under the current weights."
        loss, st = self.trainer.minibatch_loss(b["_rb"])
        return {"loss": float(loss), "policy_loss": st["policy_loss"], "value_loss": st["value_loss"],
                "approxkl": st["approxkl"], "clipfrac": st["clipfrac"]}
