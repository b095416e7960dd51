"""The library's device placement, checked on the virtual GPU of `virtual_gpu.py` (CPU only).

accelerate's device is the virtual GPU `meta:0` (through ACCELERATE_TORCH_DEVICE), so every trainer moves its models
there, and the scenarios feed them CPU inputs where a user would (README loop, `step`); other models are split over
`meta:0`/`meta:1` the way `device_map` splits them. A device-placement bug that would crash on a GPU crashes here.

Prints one PASS/FAIL line per scenario (a failure with the instruct_goose frames it went through) and exits with
status 1 if any failed. Run `python tests/device_scenarios.py`; `tests/test_devices.py` runs it in a subprocess.
"""
import contextlib, io, os, shutil, sys, tempfile, time, traceback, warnings
from functools import partial
from pathlib import Path

os.environ["ACCELERATE_TORCH_DEVICE"] = "meta:0"       # read when accelerate's state is first created
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
warnings.filterwarnings("ignore")

import torch
from virtual_gpu import DevTensor, VDeviceError, dispatch, virtual_gpu
import instruct_goose
from instruct_goose import Agent, RLHFConfig, RLHFTrainer, create_reference_model
from instruct_goose.data import PairDataset, tiny_model
from instruct_goose.reward import RewardModel, train_reward_model
from instruct_goose.sft import SFTConfig, train_sft
import instruct_goose.cli as cli

GPU = torch.device("meta:0")
PACKAGE = Path(instruct_goose.__file__).parent
OUT = Path(tempfile.mkdtemp(prefix="ig_devices_"))
PROMPTS = ["the movie was", "i thought the plot was", "overall", "honestly the cast was"]
DEMOS = [{"prompt": f"q{i} the", "response": f" answer {i} is good"} for i in range(8)]
PAIRS = [{"prompt": f"q{i}", "chosen": f" good {i}", "rejected": f" bad {i} bad"} for i in range(8)]
FAILED = []

def check(name, fn):
    "Run the scenario `fn` (its prints silenced); print PASS, or FAIL with the error and the library frames it went through."
    t = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()): fn()
    except Exception as e:
        FAILED.append(name)
        frames = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_tb(e.__traceback__)
                  if Path(f.filename).parent == PACKAGE]
        print(f"FAIL  {name}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}\n"
              f"      at {' -> '.join(frames[-4:]) or '(the scenario itself)'}", flush=True)
    else: print(f"PASS  {name} ({time.perf_counter() - t:.1f} s)", flush=True)

def on_gpu(module, what):
    assert {p.device for p in module.parameters()} == {GPU}, f"{what} is on {sorted({str(p.device) for p in module.parameters()})}, not {GPU}"

def harness():
    "The virtual GPU refuses what a GPU refuses (or every other scenario would pass for nothing)."
    from accelerate import PartialState
    assert PartialState().device == GPU, f"accelerate's device is {PartialState().device}"
    x = torch.ones(2, 3).to("meta:0")
    assert isinstance(x, DevTensor) and x.device == GPU
    x + torch.tensor(1.0); x[torch.tensor([1])]                             # CPU scalars and indices are fine
    for bad in (lambda: x + torch.ones(2, 3), lambda: x + x.to("meta:1"), lambda: torch.multinomial(x, 1, generator=torch.Generator())):
        try: bad()
        except VDeviceError: continue
        raise AssertionError("the virtual GPU let a device mismatch through")

# (a) the README's loop: RLHFTrainer moves the model to the GPU; the user's ids, generator and rewards stay on the CPU
def readme_loop():
    lm, tok = tiny_model("llama")
    model = Agent(lm); ref_model = create_reference_model(model)
    trainer = RLHFTrainer(model, ref_model, RLHFConfig(output_dir=str(OUT/"readme")))
    on_gpu(model, "the policy")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = tok(["Once upon a time, there was a dog", "The little girl was sad because"], padding=True, return_tensors="pt")
    rollout = model.generate(inputs["input_ids"], attention_mask=inputs["attention_mask"], max_new_tokens=20,
                             pad_token_id=tok.pad_token_id, generator=torch.Generator().manual_seed(0))
    tok.batch_decode(rollout.response, skip_special_tokens=True)
    loss = trainer.compute_loss(query_ids=rollout.query, query_attention_mask=rollout.query_mask, response_ids=rollout.response,
                                response_attention_mask=rollout.response_mask, rewards=torch.tensor([0.5, -0.5]))
    optimizer.zero_grad(); loss.backward(); optimizer.step(); loss.item()

# (b) RLHFTrainer: train with checkpoints, evaluate, resume, and `step` on CPU tensors, for each kind of reward
def rlhf(reward, **cfg):
    out = OUT/"_".join(["rlhf", reward, *cfg])
    def trainer():
        lm, tok = tiny_model("gpt2")
        rm = RewardModel(tiny_model("gpt2", seed=1)[0], tokenizer=tok, max_length=32)
        agent = Agent(lm, value_model=rm if reward == "critic" else None)
        fn = {"text": lambda texts: [float(len(t)) for t in texts],                   # texts -> scores
              "ids": lambda q, r: (r != tok.eos_token_id).sum(1).float()}.get(reward, rm)   # (query ids, response ids) -> scores
        config = RLHFConfig(batch_size=4, mini_batch_size=2, gradient_accumulation_steps=2, ppo_epochs=2, max_new_tokens=6,
                             output_dir=str(out), save_every=1, **cfg)
        return RLHFTrainer(agent, None if config.lora_r else create_reference_model(agent), config, reward_fn=fn, tokenizer=tok,
                           ptx_dataset=["some pretraining text goes here", "another one to read"] * 2 if config.ptx_coef else None), tok
    def run():
        tr, tok = trainer()
        on_gpu(tr.unwrapped, "the agent")
        tr.train(PROMPTS, num_iterations=2, progress=False)
        tr.evaluate(PROMPTS[:2], num_samples=1)
        tr, tok = trainer()
        tr.train(PROMPTS, num_iterations=3, resume_from=out, progress=False)
        assert tr.iteration == 3
        tr.step(torch.tensor([[1, 2, 3]] * 4), torch.tensor([[4, 5, tok.eos_token_id]] * 4), [1.0, 0.0, 0.5, 0.2])
    return run

# (c) models split over meta:0 / meta:1 like device_map="auto": GPT-2 (head tied to the embedding, on meta:0), Llama (untied head on meta:1)
MAPS = {"gpt2": {"transformer.wte": "meta:0", "transformer.wpe": "meta:0", "transformer.drop": "meta:0", "transformer.h.0": "meta:0",
                 "transformer.h.1": "meta:1", "transformer.ln_f": "meta:1", "lm_head": "meta:0"},
        "llama": {"model.embed_tokens": "meta:0", "model.rotary_emb": "meta:0", "model.layers.0": "meta:0", "model.layers.1": "meta:1",
                  "model.norm": "meta:1", "lm_head": "meta:1"}}

def split(arch):
    "A split tiny model, its tokenizer, and a query/response batch on its first device."
    lm, tok = tiny_model(arch, **({"tie_word_embeddings": False} if arch == "llama" else {}))
    dispatch(lm, MAPS[arch])
    enc = tok(["the movie was good", "a"], return_tensors="pt", padding=True)
    r = torch.tensor([[5, 6, 7], [8, 9, 10]])
    return lm, tok, [t.to("meta:0") for t in (enc.input_ids, enc.attention_mask, r, torch.ones_like(r))]

def split_generate(arch):
    lm, tok, (q, qm, _, _) = split(arch)
    agent = Agent(lm)
    for values in (True, False):
        agent.generate(q, qm, max_new_tokens=4, generator=torch.Generator().manual_seed(0), pad_token_id=tok.pad_token_id, return_values=values)

def split_forward(arch):
    lm, _, batch = split(arch)
    Agent(lm)(*batch)

def split_reference(arch):
    lm, _, batch = split(arch)
    create_reference_model(Agent(lm))(*batch)

def split_reward_model(arch):
    lm, tok, (q, qm, _, _) = split(arch)
    RewardModel(lm, tokenizer=tok, max_length=32)(q, qm)

def split_reward_training(arch):
    lm, tok, _ = split(arch)
    rm = RewardModel(lm, tokenizer=tok, max_length=32)
    train_reward_model(rm, PairDataset(PAIRS, tok, max_length=32), PairDataset(PAIRS[:4], tok, max_length=32), epochs=1, batch_size=4,
                       progress=False, verbose=False)

def split_critic(arch):
    "A policy on the GPU, its critic copied from a reward model whose trunk is split (accelerate then leaves placement to the user)."
    lm, tok, _ = split(arch)
    policy = (tiny_model("gpt2")[0] if arch == "gpt2" else tiny_model("llama", tie_word_embeddings=False)[0]).to("meta:0")
    agent = Agent(policy, value_model=RewardModel(lm, tokenizer=tok, max_length=32))
    config = RLHFConfig(batch_size=2, mini_batch_size=2, ppo_epochs=1, max_new_tokens=4, output_dir=str(OUT/f"split_critic_{arch}"))
    tr = RLHFTrainer(agent, create_reference_model(agent), config, reward_fn=lambda texts: [float(len(t)) for t in texts], tokenizer=tok)
    tr.train(PROMPTS[:2], num_iterations=1, progress=False)

def split_backbone_reward_model():
    from transformers import GPT2Model
    lm, tok = tiny_model("gpt2")
    backbone = dispatch(GPT2Model(lm.config), {k.removeprefix("transformer."): v for k, v in MAPS["gpt2"].items() if k != "lm_head"})
    ids = tok(["the movie was good", "a"], return_tensors="pt", padding=True)
    RewardModel(backbone, tokenizer=tok, max_length=32)(ids.input_ids.to("meta:0"), ids.attention_mask.to("meta:0"))

def split_rlhf(arch):
    lm, tok, _ = split(arch)
    agent = Agent(lm)
    config = RLHFConfig(batch_size=2, mini_batch_size=2, ppo_epochs=1, max_new_tokens=4, output_dir=str(OUT/f"split_{arch}"))
    tr = RLHFTrainer(agent, create_reference_model(agent), config, reward_fn=lambda texts: [float(len(t)) for t in texts], tokenizer=tok)
    tr.train(PROMPTS[:2], num_iterations=1, progress=False)

def split_sft(arch):
    lm, tok, _ = split(arch)
    train_sft(lm, tok, DEMOS, DEMOS[:4], SFTConfig(max_steps=2, batch_size=4, max_grad_norm=None, progress=False))

# (d) SFT and reward-model training on the GPU, then the reward model on texts
def sft():
    lm, tok = tiny_model("gpt2")
    train_sft(lm, tok, DEMOS, DEMOS[:4], SFTConfig(max_steps=2, batch_size=4, gradient_accumulation_steps=2, eval_every=1, progress=False))
    on_gpu(lm, "the SFT model")

def reward_model():
    lm, tok = tiny_model("gpt2", seed=1)
    rm = RewardModel(lm, tokenizer=tok, max_length=32)
    train_reward_model(rm, PairDataset(PAIRS, tok, max_length=32), PairDataset(PAIRS[:4], tok, max_length=32), epochs=1, batch_size=4,
                       progress=False, verbose=False)
    on_gpu(rm, "the reward model")
    rm(["q1 good", "q2 bad"]); rm.normalize(["q1 good", "q2 bad", "q3 meh"], unit_std=True)

# (e) the CLI's PPO step with --reward-model: the reward model scores on the policy's device; gold_eval on a GPU agent
def cli_ppo():
    from datasets import Dataset
    lm, tok = tiny_model("gpt2")
    RewardModel(tiny_model("gpt2", seed=1)[0], tokenizer=tok, max_length=32).save_pretrained(OUT/"cli_rm")
    seen, forward = set(), RewardModel.forward
    def spy(self, *a, **k): seen.add(self.device); return forward(self, *a, **k)
    RewardModel.forward = spy
    try: cli.run_ppo((lm, tok), Dataset.from_list([{"prompt": p} for p in PROMPTS]), OUT/"cli_ppo", reward_model=str(OUT/"cli_rm"),
                     config=dict(num_iterations=1, batch_size=4, mini_batch_size=2, ppo_epochs=1, max_new_tokens=4, progress=False))
    finally: RewardModel.forward = forward
    on_gpu(lm, "the policy")
    assert seen == {GPU}, f"the reward model scored on {sorted(map(str, seen))}, not on the policy's {GPU}"
    cli.gold_eval(Agent(lm), tok, PROMPTS[:2], max_new_tokens=4, seed=0)

SCENARIOS = {
    "virtual GPU refuses device mismatches": harness,
    "(a) README loop: CPU ids, generator and rewards, model on the GPU": readme_loop,
    "(b) RLHFTrainer, RewardModel reward, PPO-ptx, adaptive KL, EOS penalty, whitening, top-k/p": rlhf("rm", ptx_coef=0.1, adaptive_kl=True,
        missing_eos_penalty=1.0, whiten_rewards=True, top_k=50, top_p=0.9),
    "(b) RLHFTrainer, separate critic from a reward model": rlhf("critic"),
    "(b) RLHFTrainer, text reward": rlhf("text", temperature=0.7),
    "(b) RLHFTrainer, ids reward, k3 KL": rlhf("ids", kl_estimator="k3"),
    "(b) RLHFTrainer, LoRA": rlhf("rm", lora_r=4),
    **{f"(c) split {arch}: {what}": partial(f, arch) for arch in MAPS for what, f in [
        ("Agent.generate with and without values", split_generate), ("Agent.forward", split_forward),
        ("create_reference_model, ReferenceModel.forward", split_reference), ("RewardModel(split LM)(ids)", split_reward_model),
        ("RLHFTrainer.train", split_rlhf), ("train_sft, max_grad_norm=None", split_sft),
        ("train_reward_model(RewardModel(split LM))", split_reward_training), ("RLHFTrainer, critic from a split reward model", split_critic)]},
    "(c) split backbone: RewardModel(backbone)(ids)": split_backbone_reward_model,
    "(d) train_sft on the GPU": sft,
    "(d) train_reward_model (pairs), rm(texts), normalize": reward_model,
    "(e) cli.run_ppo --reward-model, gold_eval": cli_ppo,
}

if __name__ == "__main__":
    print(f"instruct_goose from {PACKAGE}; torch {torch.__version__}; outputs in {OUT}", flush=True)
    start = time.perf_counter()
    with virtual_gpu():
        for name, fn in SCENARIOS.items(): check(name, fn)
    shutil.rmtree(OUT, ignore_errors=True)
    print(f"{len(SCENARIOS) - len(FAILED)} of {len(SCENARIOS)} scenarios passed in {time.perf_counter() - start:.0f} s", flush=True)
    sys.exit(1 if FAILED else 0)
