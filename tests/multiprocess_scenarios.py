"""Two CPU processes (DDP over gloo), launched by `tests/test_multiprocess.py`: one scenario per launch.

Each scenario makes one process fail (or disagree) where the other would otherwise go on into a collective operation
and hang. Every process writes its outcome to `result-<rank>.txt` beside the output folder (the test reads them; printed
lines of two processes can interleave); the launcher's timeout turns a hang into a failure. Run one by hand:
`ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 tests/multiprocess_scenarios.py reward`
"""
import sys, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
import torch
from instruct_goose.data import tiny_model
from instruct_goose.agent import Agent, create_reference_model
from instruct_goose.trainer import RLHFTrainer, RLHFConfig
import instruct_goose.trainer as T

PROMPTS = ["Once upon a time", "The cat", "A little girl", "The sun was", "Tom had a", "One day", "She saw", "The dog ran"]
scenario, out = sys.argv[1], sys.argv[2]
state = {}
def report(rank, outcome):
    (Path(out).parent/f"result-{rank}.txt").write_text(outcome); print(f"RESULT {rank} {outcome}", flush=True)
def reward(texts):
    if scenario == "reward" and state["rank"] == 1 and state["tr"].iteration == 1: raise ConnectionError("the reward server timed out")
    return [len(t) / 10 for t in texts]
torch.manual_seed(0)
model, tok = tiny_model("llama", seed=0)
agent = Agent(model)
ptx = dict(ptx_dataset=["Once upon a time there was a cat who liked to play."]) if scenario == "ptx" else {}
tr = RLHFTrainer(agent, create_reference_model(agent), RLHFConfig(batch_size=4, mini_batch_size=2, ppo_epochs=1, max_new_tokens=6, lr=1e-3,
                 output_dir=out, seed=0, ptx_coef=0.5 if ptx else 0.0), reward_fn=reward, tokenizer=tok, reward_inputs="response_text", **ptx)
rank = tr.accelerator.process_index
state.update(rank=rank, tr=tr)
policy_loss = T.policy_loss
def nan_on_rank1(logprobs, *args, **kw):                     # rank 1's log-probs turn NaN in the second iteration's update
    if scenario == "update" and rank == 1 and tr.iteration == 1: logprobs = logprobs + float("nan")
    return policy_loss(logprobs, *args, **kw)
T.policy_loss = nan_on_rank1
ptx_loss = RLHFTrainer._ptx_loss
def ptx_oom_on_rank1(self, n):                               # rank 1 runs out of memory in PPO-ptx's pass of the second iteration
    if rank == 1 and self.iteration == 1: raise MemoryError("out of memory in the PPO-ptx pass")
    return ptx_loss(self, n)
RLHFTrainer._ptx_loss = ptx_oom_on_rank1
def fails_second_call(module, exc):                          # module's forward raises `exc` at its second call (rank 1 only)
    forward, calls = module.forward, []
    def f(*a, **k):
        calls.append(1)
        if rank == 1 and len(calls) == 2: raise exc
        return forward(*a, **k)
    module.forward = f
try:
    if scenario in ("sft", "reward_model_fails"):           # SFT and reward-model training: rank 1's forward fails at step 2
        from instruct_goose.data import PairDataset
        from instruct_goose.reward import RewardModel, train_reward_model
        from instruct_goose.sft import SFTConfig, train_sft
        if scenario == "sft":
            lm = tiny_model("llama", seed=1)[0]; fails_second_call(lm, MemoryError("out of memory in the SFT forward"))
            demos = [{"prompt": p, "response": " and then they played all day."} for p in PROMPTS]
            train_sft(lm, tok, demos, config=SFTConfig(max_steps=3, batch_size=2, progress=False), accelerator=tr.accelerator)
        else:
            rm = RewardModel(tiny_model("llama", seed=1)[0], tok, max_length=32); fails_second_call(rm, MemoryError("out of memory in the reward model"))
            pairs = [{"chosen": f"{p} was a happy day.", "rejected": f"{p} was sad."} for p in PROMPTS]
            train_reward_model(rm, PairDataset(pairs, tok, max_length=32), batch_size=2, epochs=1, progress=False, verbose=False, accelerator=tr.accelerator)
        report(rank, "ok"); sys.exit(0)
    if scenario == "reward_model":                           # train_reward_model: one history for the run, not one per process
        from instruct_goose.data import PairDataset
        from instruct_goose.reward import RewardModel, train_reward_model
        pairs = [{"chosen": f"{p} was a happy day.", "rejected": f"{p} was sad."} for p in PROMPTS]
        rm = RewardModel(tiny_model("llama", seed=1)[0], tok, max_length=32)
        h = train_reward_model(rm, PairDataset(pairs, tok, max_length=32), batch_size=2, epochs=1, progress=False, verbose=False,
                               accelerator=tr.accelerator)
        report(rank, f"ok {[round(x, 6) for x in h['loss']]} {[round(x, 6) for x in h['accuracy']]}"); sys.exit(0)
    if scenario == "uneven":                                 # step() given 4 episodes on rank 0 and 2 on rank 1
        B = 4 if rank == 0 else 2
        enc = tok(PROMPTS[:B], return_tensors="pt", padding=True)
        ro = tr.generate(enc.input_ids, enc.attention_mask)
        tr.step(ro.query, ro.response, [1.0] * B, ro.query_mask, ro.response_mask)
    else:
        def callback(trainer, stats):                        # a callback that fails on the main process only (say, a logger)
            if scenario == "callback" and rank == 0 and trainer.iteration == 2: raise ConnectionError("the logging server is down")
        tr.train(PROMPTS, num_iterations=3, progress=False, callback=callback)
        if scenario == "save":                               # rank 1 cannot write its part of the checkpoint
            import instruct_goose.trainer as trainer_module
            write = trainer_module._write_file
            def full_disk(obj, path):
                if rank == 1: raise OSError(28, "No space left on device")
                return write(obj, path)
            trainer_module._write_file = full_disk
            tr.save_checkpoint()
    report(rank, "ok")
except Exception as e:
    weights = sum(float(p.detach().abs().sum()) for p in tr.unwrapped.parameters())
    report(rank, f"{type(e).__name__}: {str(e)[:300]} | finite weights: {weights == weights}")
    if scenario in ("reward", "update", "ptx", "callback"): tr.save_checkpoint()   # still in step with the other process: no hang here either
