"""Shared by the benchmark workers (TRL venv and project venv alike): the configuration, identical random models
built from config, random prompts, the matmul FLOP floor of one PPO iteration, the fp32 matmul ceiling, and the
line protocol between the driver and its workers. Depends only on torch and transformers (present in both venvs)."""
from __future__ import annotations
import json, os, resource, sys, time
from dataclasses import dataclass, asdict, field

import torch

TAG = "@@BENCH "   # a worker's result lines start with this; everything else on stdout is the library's chatter


@dataclass
class BenchConfig:
    n_layer:int = 4
    n_head:int = 4
    n_embd:int = 256
    vocab_size:int = 8192
    n_positions:int = 256
    episodes:int = 64          # B, rollouts per PPO iteration
    query_len:int = 32         # Q, every prompt has exactly Q real tokens
    response_len:int = 32      # R, no early stop: every response has R tokens
    ppo_epochs:int = 4
    num_mini_batches:int = 4
    temperature:float = 1.0
    lr:float = 3e-6            # TRL's PPOConfig default
    kl_coef:float = 0.05
    cliprange:float = 0.2
    cliprange_value:float = 0.2
    vf_coef:float = 0.1
    gamma:float = 1.0
    lam:float = 0.95
    seed:int = 0

    @property
    def pad_id(self) -> int:
        "Pad = EOS = V: one past the model's vocabulary, so it is never sampled (no early stop) and never fed to a model."
        return self.vocab_size

    @classmethod
    def from_json(cls, s:str) -> "BenchConfig": return cls(**json.loads(s))
    def to_json(self) -> str: return json.dumps(asdict(self))


def gpt2_config(c:BenchConfig, **kw):
    from transformers import GPT2Config
    # no special ids in the model config: pad/EOS (= V) live in the tokenizer only, outside the model's vocabulary
    return GPT2Config(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, vocab_size=c.vocab_size, n_positions=c.n_positions,
                      bos_token_id=None, eos_token_id=None, pad_token_id=None, **kw)


def build_models(c:BenchConfig):
    "(policy LM, reward model, value model), each a transformers GPT-2 with seeded random weights, fp32."
    from transformers import GPT2LMHeadModel, GPT2ForSequenceClassification
    torch.manual_seed(c.seed);     policy = GPT2LMHeadModel(gpt2_config(c))
    torch.manual_seed(c.seed + 1); reward = GPT2ForSequenceClassification(gpt2_config(c, num_labels=1))
    torch.manual_seed(c.seed + 2); value = GPT2ForSequenceClassification(gpt2_config(c, num_labels=1))
    for m in (policy, reward, value): m.float()
    return policy, reward, value


def word_tokenizer(c:BenchConfig):
    "A word-level tokenizer over `t0 ... t{V}` (no download); pad = eos = `t{V}`, an id the models never produce."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {f"t{i}": i for i in range(c.vocab_size + 1)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0")); tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    pad = f"t{c.pad_id}"
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, eos_token=pad, unk_token="t0", padding_side="left")


def prompts(c:BenchConfig, n:int, seed:int=1234) -> torch.Tensor:
    "(n,Q) random prompt ids in [0, V)."
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, c.vocab_size, (n, c.query_len), generator=g)


# ---------------------------------------------------------------- FLOP floor
def trunk_flops(c:BenchConfig, n_tokens:int, ctx_start:int=0) -> float:
    """Matmul FLOPs of a GPT-2 trunk over `n_tokens` consecutive positions of one row, the first at position
    `ctx_start` (KV cache of `ctx_start` earlier tokens): QKV+proj (8 D^2) and MLP (16 D^2) per token and layer,
    plus causal attention QK^T and AV (4 D ctx per token and layer)."""
    D, L = c.n_embd, c.n_layer
    dense = 2 * 12 * D * D * n_tokens
    attn = sum(4 * D * (ctx_start + i + 1) for i in range(n_tokens))
    return float(L * (dense + attn))

def head_flops(c:BenchConfig, n_tokens:int) -> float: return float(2 * c.n_embd * c.vocab_size * n_tokens)

def flop_floor(c:BenchConfig, separate_critic:bool) -> dict:
    """Matmul FLOPs one PPO iteration needs at minimum: every token through each trunk once per pass, the LM head only
    where a log-prob is read (R positions), the backward pass = 2x the forward. Scalar heads, softmax, optimizer ignored."""
    B, Q, R = c.episodes, c.query_len, c.response_len
    T_in = Q + R - 1                                  # the last response token predicts nothing
    gen = B * (trunk_flops(c, Q) + sum(trunk_flops(c, 1, Q + t) for t in range(R - 1)) + head_flops(c, R))
    policy_pass = B * (trunk_flops(c, T_in) + head_flops(c, R))
    ref = policy_pass
    reward = B * trunk_flops(c, Q + R)              # read at the last token
    values = B * trunk_flops(c, T_in) if separate_critic else 0.0   # shared trunk: the values come with generation
    update = c.ppo_epochs * 3 * (policy_pass + values)
    out = {"generation": gen, "reference": ref, "reward": reward, "values": values, "update": update}
    out["rollout"] = gen + ref + reward + values
    out["total"] = out["rollout"] + update
    return out


def cuda_matmul_ceiling(n:int=8192, repeats:int=10, dtype=torch.float32) -> float:
    "Best FLOP/s of an (n,n)@(n,n) matmul on the GPU (fp32 runs on TF32 tensor cores when allowed), timed with CUDA events."
    a, b = torch.randn(n, n, device="cuda", dtype=dtype), torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3): a @ b
    best = 0.0
    for _ in range(repeats):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); a @ b; e.record(); torch.cuda.synchronize()
        best = max(best, 2 * n**3 / (s.elapsed_time(e) / 1e3))
    return best


def matmul_ceiling(n:int=2048, repeats:int=5) -> float:
    """Best fp32 FLOP/s of an (n,n)@(n,n) torch.matmul on this machine, with torch's current thread count. Each run is
    timed by the shorter of wall time and CPU time / threads, so time spent waiting for a busy core does not count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best, th = 0.0, torch.get_num_threads()
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time(); torch.matmul(a, b)
        dt = min(time.perf_counter() - t, (time.process_time() - c) / th)
        best = max(best, 2 * n**3 / dt)
    return best


# ---------------------------------------------------------------- worker side
def peak_rss_mib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB

def set_threads():
    "Honour BENCH_THREADS (the driver's --threads) before any torch work; torch's default otherwise. On a GPU (BENCH_DEVICE=cuda) fp32 matmuls use TF32, in both libraries."
    n = os.environ.get("BENCH_THREADS")
    if n: torch.set_num_threads(int(n))
    if bench_device() == "cuda": torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True

def bench_device() -> str:
    "'cpu' (default) or 'cuda': the driver's --device, passed to the workers as BENCH_DEVICE."
    return os.environ.get("BENCH_DEVICE", "cpu")

def sync():
    "Wait for the GPU's queued work, so that wall-clock phases are the work's own time (no-op on CPU)."
    if torch.cuda.is_available() and torch.cuda.is_initialized(): torch.cuda.synchronize()

def peak_gpu_mib() -> float:
    "Peak GPU memory allocated by torch in this process (0 on CPU)."
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() and torch.cuda.is_initialized() else 0.0

def emit(obj:dict):
    "Send one result line to the driver (on the real stdout, whatever the library did to sys.stdout)."
    sys.__stdout__.write(TAG + json.dumps(obj) + "\n"); sys.__stdout__.flush()

def wait_command() -> str:
    "Block until the driver sends a command line ('step' or 'quit'). On a GPU, first hand the cached memory back: the three workers share one GPU, one iterating at a time."
    if torch.cuda.is_available() and torch.cuda.is_initialized(): torch.cuda.empty_cache()
    line = sys.stdin.readline()
    return line.strip() or "quit"


class PhaseTimer:
    "Accumulates wall time per phase name; `with timer('generation'): ...`."
    "Wall seconds (`t`), CPU seconds of this process (`cpu`) and the peak RSS at the end (`rss`) of each phase."
    def __init__(self): self.reset()
    def __call__(self, name):
        timer = self
        class _Ctx:
            def __enter__(s): sync(); s.t0, s.c0 = time.perf_counter(), time.process_time()
            def __exit__(s, *a): sync(); timer.add(name, time.perf_counter() - s.t0, time.process_time() - s.c0)
        return _Ctx()
    def add(self, name, wall, cpu):
        self.t[name] = self.t.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
        self.rss[name] = peak_rss_mib()           # the process's peak RSS when this phase ended
    def reset(self): self.t, self.cpu, self.rss = {}, {}, {}


def generation_setup(default_repeats:int):
    "The generation benchmarks' arguments (--scale, --repeats, --threads), and the reference agent after one warm-up iteration with its prompts: (args, config, agent, rollout)."
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="base")
    ap.add_argument("--repeats", type=int, default=default_repeats)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ppo_vs_trl import make_config
    from ig_trainer_engine import TrainerEngine
    c = make_config(False, args.scale)
    eng = TrainerEngine(c, "shared", PhaseTimer())
    eng.iteration()                                       # warm-up; leaves prompts to generate from
    return args, c, eng.agent, eng.trainer.last_rollout
