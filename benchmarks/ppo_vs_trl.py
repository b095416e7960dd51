"""Side-by-side PPO benchmark: Hugging Face TRL 1.12.0 vs instruct_goose, one invocation, the same machine,
iterations interleaved (trl, ig-separate, ig-shared, then the reverse order, ...).

    bash benchmarks/setup_trl_venv.sh                 # once: TRL in its own venv (benchmarks/.venv-trl)
    python benchmarks/ppo_vs_trl.py                    # reference config, 1 warm-up + 5 timed iterations each
    python benchmarks/ppo_vs_trl.py --quick            # smoke test (small model, 2 timed iterations)
    python benchmarks/ppo_vs_trl.py --scale 2x         # also 4x (width), r128 (128-token responses)
    python benchmarks/ppo_vs_trl.py --device cuda --scale gpt2s   # on a GPU: GPT-2 small (124M) from config; gpt2s-big: 256 x (32 + 128)
    python benchmarks/ppo_vs_trl.py --runs a.json b.json ...      # several runs of one config: per-run and pooled paired ratios

Each system runs in its own long-lived worker process (TRL in its venv, instruct_goose in the project venv) that
executes one PPO iteration per `step` command, so no two iterations ever overlap and peak RSS is per process.
Writes benchmarks/results/<scale>.json, <scale>.md (the table) and <scale>.png (the bar chart)."""
from __future__ import annotations
import argparse, json, os, platform, statistics, subprocess, sys, time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import BenchConfig, TAG, flop_floor, matmul_ceiling, cuda_matmul_ceiling

TRL_PY = Path(os.environ.get("BENCH_TRL_PYTHON") or HERE / ".venv-trl" / "bin" / "python")   # env: a python that has TRL (e.g. on a GPU machine)
SYSTEMS = {   # name -> (python, worker args, FLOP floor with a separate critic?)
    "trl": ("trl", ["trl_worker.py"], True),
    "ig-separate": ("ig", ["ig_worker.py", "--critic", "separate"], True),
    "ig-shared": ("ig", ["ig_worker.py", "--critic", "shared"], False),
}
LABELS = {"trl": "TRL 1.12.0 PPO (separate value model)", "ig-separate": "instruct_goose, separate critic (TRL's algorithm)",
          "ig-shared": "instruct_goose default (value head on the policy trunk)"}


def make_config(quick:bool=False, scale:str="base") -> BenchConfig:
    c = BenchConfig()
    if quick: c = replace(c, n_layer=2, n_head=2, n_embd=128, vocab_size=2048, episodes=32, query_len=16, response_len=16)
    if scale == "2x": c = replace(c, n_embd=2 * c.n_embd, n_head=2 * c.n_head)
    elif scale == "4x": c = replace(c, n_embd=4 * c.n_embd, n_head=4 * c.n_head)
    elif scale == "r128": c = replace(c, response_len=128)
    elif scale in ("gpt2s", "gpt2s-big"):     # GPT-2 small (124M) from config; -big: a GPU-sized rollout
        c = replace(c, n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
        if scale == "gpt2s-big": c = replace(c, episodes=256, response_len=128)
    elif scale != "base": raise ValueError(f"unknown scale {scale!r}: use base, 2x, 4x, r128, gpt2s or gpt2s-big")
    return c


class Worker:
    def __init__(self, name:str, c:BenchConfig, log_dir:Path, engine:str):
        kind, argv, self.separate = SYSTEMS[name]
        py = str(TRL_PY) if kind == "trl" else sys.executable
        if kind == "trl" and not TRL_PY.exists():
            raise SystemExit(f"{TRL_PY} is missing: run `bash benchmarks/setup_trl_venv.sh` first (TRL 1.12.0 in its own venv)")
        cmd = [py, str(HERE / argv[0]), *argv[1:], "--config", c.to_json()]
        if kind == "ig": cmd += ["--engine", engine]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if kind == "trl" and not os.environ.get("BENCH_TRL_PYTHON"): env.pop("PYTHONPATH", None)
        self.name, self.log = name, open(log_dir / f"{name}.log", "w")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=str(ROOT), env=env)

    def read(self) -> dict:
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.log.flush()
                tail = Path(self.log.name).read_text()[-3000:]
                raise RuntimeError(f"worker {self.name} died (exit {self.p.poll()}); its log ends with:\n{tail}")
            if line.startswith(TAG): return json.loads(line[len(TAG):])

    def send(self, cmd:str):
        self.p.stdin.write(cmd + "\n"); self.p.stdin.flush()

    def step(self) -> dict:
        self.send("step"); r = self.read()
        assert r["event"] == "iteration", r
        return r

    def close(self) -> dict:
        try: self.send("quit"); r = self.read()
        except (BrokenPipeError, RuntimeError): r = {}
        self.p.wait(timeout=60); self.log.close()
        return r


def summarize(name:str, ready:dict, its:list, bye:dict, c:BenchConfig, ceiling:float, threads:int) -> dict:
    """Medians over the timed iterations. `busy` seconds = the worker's CPU seconds / its torch threads: the time it
    computed, which stays meaningful when other processes share the cores (wall time then also counts waiting)."""
    med = lambda xs: statistics.median(xs)
    keys = sorted({k for it in its for k in it["phases"]})
    phases = {k: med([it["phases"].get(k, 0.0) for it in its]) for k in keys}
    busy_phases = {k: med([it.get("phases_cpu", {}).get(k, float("nan")) / threads for it in its]) for k in keys}
    sec = med([it["seconds"] for it in its])
    busy = med([it.get("cpu_seconds", float("nan")) / threads for it in its])
    gpu = os.environ.get("BENCH_DEVICE") == "cuda"
    if gpu: busy, busy_phases = sec, phases      # on a GPU, CPU seconds mean nothing: the phases are synchronised wall times
    fl = flop_floor(c, SYSTEMS[name][2])
    floor_s = {k: v / ceiling for k, v in fl.items()}
    return {"name": name, "label": LABELS[name], "engine": ready.get("engine"), "threads": threads,
            "seconds": sec, "seconds_all": [it["seconds"] for it in its], "episodes_per_s": c.episodes / sec,
            "busy_seconds": busy, "busy_seconds_all": [it.get("cpu_seconds", float("nan")) / threads for it in its],
            "episodes_per_busy_s": c.episodes / busy, "phases": phases, "busy_phases": busy_phases,
            "update_share": busy_phases["update"] / busy,
            "peak_rss_mib": max([bye.get("peak_rss_mib", 0)] + [it["peak_rss_mib"] for it in its]),
            "gpu_peak_mib": max([it.get("gpu_peak_mib", 0) for it in its] + [0]),
            "tokens_per_s": {"generated": c.episodes * c.response_len / sec, "processed": c.episodes * (c.query_len + c.response_len) / sec},
            "mfu": fl["total"] / sec / ceiling,
            "flops": fl, "floor_s": floor_s,
            "over_floor": {"wall_total": sec / floor_s["total"], "total": busy / floor_s["total"],
                           "update": busy_phases["update"] / floor_s["update"],
                           "generation": busy_phases.get("generation", float("nan")) / floor_s["generation"],
                           "rollout": busy_phases["rollout"] / floor_s["rollout"]},
            "first_stats": its[0]["stats"] if its else None, "rss_ready_mib": ready.get("rss_ready_mib"),
            "rss_after_phase_first_timed": its[0].get("rss_after_phase") if its else None, "versions": ready.get("versions")}


def machine() -> dict:
    import torch
    model = "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"): model = line.split(":", 1)[1].strip()
    except FileNotFoundError: pass
    try: load = os.getloadavg()
    except OSError: load = None
    gpu = torch.cuda.get_device_name(0) if os.environ.get("BENCH_DEVICE") == "cuda" else None
    return {"cpu": model, "gpu": gpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": int(os.environ.get("BENCH_THREADS") or torch.get_num_threads()),
            "python": platform.python_version(), "loadavg_at_start": load}


BF16_WHAT = 'fp32 weights; --bf16: TRL with bf16=True (its default: autocast in its update, its rollout passes fp32), instruct_goose with mixed_precision="bf16" (autocast in every pass)'


def _describe(res:dict, precision:str) -> str:
    "The opening sentences of a results table: model, precision, rollout shape, iterations."
    c = res["config"]
    return (f"Config `{res['scale']}`: GPT-2 n_layer={c['n_layer']} n_head={c['n_head']} n_embd={c['n_embd']} vocab={c['vocab_size']}, {precision}; "
            f"{c['episodes']} episodes x ({c['query_len']} prompt + {c['response_len']} response tokens), {c['ppo_epochs']} PPO epochs x "
            f"{c['num_mini_batches']} minibatches. Medians of {res['iters']} interleaved iterations after {res['warmup']} warm-up. ")


def gpu_table(res:dict) -> str:
    "The table of a GPU run: synchronised wall seconds, tokens/s, peak GPU memory, and model-FLOPs utilisation."
    s = res["systems"]; base = s.get("trl"); c, m = res["config"], res["machine"]
    if res.get("bf16"):
        head = (_describe(res, BF16_WHAT) +
                f"{m['gpu']}, torch {m['torch']}; measured bf16 matmul ceiling {res['ceiling_gflops'] / 1e3:.0f} TFLOP/s. "
                "MFU = the iteration's matmul FLOP floor / its time / the bf16 ceiling. ")
    else:
        head = (_describe(res, "fp32 weights, TF32 matmuls") +
                f"{m['gpu']}, torch {m['torch']}; measured TF32 matmul ceiling {res['ceiling_gflops'] / 1e3:.0f} TFLOP/s "
                f"(bf16: {res.get('bf16_ceiling_gflops', float('nan')) / 1e3:.0f}). MFU = the iteration's matmul FLOP floor / its time / the TF32 ceiling. ")
    lines = [head +
             "Phases are wall seconds with the GPU synchronised at their edges.", "",
             "| system | s / iter | episodes/s | vs TRL | generated tokens/s | generation | reference | reward | values | other rollout | update (share) | peak GPU memory | MFU | update / floor | generation / floor |",
             "|---|" + "---|" * 14]
    for r in s.values():
        p = r["phases"]; f = lambda k: f"{p.get(k, 0.0):.3f}"
        vs = f"**{r['episodes_per_s'] / base['episodes_per_s']:.2f}x**" if base else "-"
        o = r["over_floor"]
        lines.append(f"| {r['label']} | {r['seconds']:.3f} | {r['episodes_per_s']:.1f} | {vs} | {r['tokens_per_s']['generated']:.0f} | "
                     f"{f('generation')} | {f('reference')} | {f('reward')} | {f('values')} | {f('rollout_other')} | {f('update')} ({100 * r['update_share']:.0f}%) | "
                     f"{r['gpu_peak_mib'] / 1024:.1f} GiB | {100 * r['mfu']:.1f}% | {o['update']:.1f}x | {o['generation']:.1f}x |")
    return "\n".join(lines)


def table(res:dict) -> str:
    if res.get("machine", {}).get("gpu"): return gpu_table(res)
    s = res["systems"]; base = s.get("trl")
    c, m = res["config"], res["machine"]
    lines = [_describe(res, BF16_WHAT + " (floors at the fp32 ceiling)" if res.get("bf16") else "fp32") +
             f"{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s) per worker, torch {m['torch']}, "
             f"load average {m['loadavg_at_start'][0]:.1f} at the start; fp32 matmul ceiling {res['ceiling_gflops']:.0f} GFLOP/s. "
             "*Busy* seconds = the worker's CPU seconds / its threads (what it computed; wall time also counts waiting for "
             "the cores when other processes run). Phases are busy seconds.", "",
             "| system | wall s / iter | episodes/s (wall) | vs TRL (wall) | busy s / iter | episodes/s (busy) | vs TRL (busy) | generation | reference | reward | values | other rollout | update (share) | peak RSS | busy / FLOP floor | update / floor | generation / floor |",
             "|---|" + "---|" * 16]
    for r in s.values():
        p = r["busy_phases"]; f = lambda k: f"{p.get(k, 0.0):.2f}"
        vs = f"{r['episodes_per_s'] / base['episodes_per_s']:.2f}x" if base else "-"
        vb = f"{r['episodes_per_busy_s'] / base['episodes_per_busy_s']:.2f}x" if base else "-"
        o = r["over_floor"]
        lines.append(f"| {r['label']} | {r['seconds']:.2f} | {r['episodes_per_s']:.2f} | {vs} | {r['busy_seconds']:.2f} | {r['episodes_per_busy_s']:.2f} | **{vb}** | "
                     f"{f('generation')} | {f('reference')} | {f('reward')} | {f('values')} | {f('rollout_other')} | {f('update')} ({100 * r['update_share']:.0f}%) | "
                     f"{r['peak_rss_mib'] / 1024:.2f} GiB | {o['total']:.2f}x | {o['update']:.2f}x | {o['generation']:.2f}x |")
    lines += ["", "FLOP floor per iteration (GFLOP): " + "; ".join(
        f"{r['name']}: " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in r["flops"].items() if k in ("generation", "reference", "reward", "values", "update", "total"))
        for r in s.values())]
    return "\n".join(lines)


def scaling_table(paths:list) -> str:
    "One row per results JSON: busy seconds, speed-up over TRL, distance to the FLOP floor and peak RSS of each system."
    rows = ["| config | floor GFLOP (TRL / shared) | TRL busy s | separate busy s (vs TRL) | shared busy s (vs TRL) | x floor: TRL / separate / shared | update x floor: TRL / separate / shared | peak RSS GiB: TRL / separate / shared |",
            "|---|---|---|---|---|---|---|---|"]
    for p in paths:
        res = json.loads(Path(p).read_text()); s = res["systems"]; c = res["config"]
        t, a, b = s.get("trl"), s.get("ig-separate"), s.get("ig-shared")
        if not (t and a and b): continue
        desc = f"`{res['scale']}`: D={c['n_embd']}, R={c['response_len']} ({res['iters']} it.)"
        rows.append(f"| {desc} | {t['flops']['total'] / 1e9:.0f} / {b['flops']['total'] / 1e9:.0f} | {t['busy_seconds']:.1f} | "
                    f"{a['busy_seconds']:.1f} ({t['busy_seconds'] / a['busy_seconds']:.2f}x) | {b['busy_seconds']:.1f} ({t['busy_seconds'] / b['busy_seconds']:.2f}x) | "
                    + " / ".join(f"{r['over_floor']['total']:.2f}" for r in (t, a, b)) + " | "
                    + " / ".join(f"{r['over_floor']['update']:.2f}" for r in (t, a, b)) + " | "
                    + " / ".join(f"{r['peak_rss_mib'] / 1024:.2f}" for r in (t, a, b)) + " |")
    return "\n".join(rows)


def runs_table(paths:list) -> str:
    """Several runs of one config: each run's ratio of medians, and the paired ratios of single iterations pooled over the
    runs (iteration i of TRL and of instruct_goose ran back to back, so each pair saw the same machine state)."""
    import statistics as st
    rows = ["| run | when | load avg | TRL busy s | separate: ratio of medians (paired ratios min-max) | shared: ratio of medians (paired ratios min-max) |",
            "|---|---|---|---|---|---|"]
    pooled = {"ig-separate": [], "ig-shared": []}
    for p in paths:
        res = json.loads(Path(p).read_text()); s = res["systems"]; t = s["trl"]
        cells = []
        for k in pooled:
            paired = [a / b for a, b in zip(t["busy_seconds_all"], s[k]["busy_seconds_all"])]
            pooled[k] += paired
            cells.append(f"{t['busy_seconds'] / s[k]['busy_seconds']:.2f}x ({min(paired):.2f}-{max(paired):.2f})")
        rows.append(f"| `{Path(p).name}` | {res.get('when', '?')} | {res['machine']['loadavg_at_start'][0]:.1f} | {t['busy_seconds']:.2f} | " + " | ".join(cells) + " |")
    def q(v):
        v = sorted(v); qs = st.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
        return f"median **{st.median(v):.2f}x**, quartiles {qs[0]:.2f}-{qs[2]:.2f}, min {v[0]:.2f}, max {v[-1]:.2f}"
    rows += ["", f"Paired per-iteration ratios (busy), pooled over {len(paths)} runs ({len(pooled['ig-shared'])} pairs): "
             f"separate critic {q(pooled['ig-separate'])}; shared trunk {q(pooled['ig-shared'])}.",
             "", f"Pairs at the targets: separate critic >= 1.5x in {sum(r >= 1.5 for r in pooled['ig-separate'])} of {len(pooled['ig-separate'])}, "
             f"shared trunk >= 2.5x in {sum(r >= 2.5 for r in pooled['ig-shared'])} of {len(pooled['ig-shared'])}."]
    return "\n".join(rows)


def plot(res:dict, path:Path):
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = list(res["systems"].values()); m = res["machine"]
    order = ["generation", "reference", "reward", "values", "rollout_other", "update"]
    colors = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#cccccc", "#dd8452"]
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(s) + 1.6))
    y = list(range(len(s)))[::-1]
    for yi, r in zip(y, s):
        left = 0.0
        for k, col in zip(order, colors):
            w = r["busy_phases"].get(k, 0.0)
            ax.barh(yi, w, left=left, color=col, edgecolor="white", label=k if yi == y[0] else None); left += w
        ax.barh(yi, r["floor_s"]["total"], height=0.15, color="black", label="FLOP floor" if yi == y[0] else None)
        ax.text(left, yi, f"  {r['busy_seconds']:.1f} s, {r['episodes_per_busy_s']:.1f} ep/s", va="center", fontsize=9)
    ax.set_yticks(y); ax.set_yticklabels([r["label"].replace(" (", "\n(") for r in s], fontsize=8)
    ax.set_xlabel(("seconds per PPO iteration (median)" if m.get("gpu") else "busy seconds per PPO iteration (CPU seconds / threads, median)") + "; black: FLOP floor")
    ax.set_xlim(0, max(r["busy_seconds"] for r in s) * 1.35)
    where = f"{m['gpu']}, TF32" if m.get("gpu") else f"{m['cpu']}, {m['torch_threads']} thread(s) per worker, fp32"
    if res.get("bf16"): where = where.replace("TF32", "bf16").replace(", fp32", ", bf16")
    ax.set_title(f"PPO iteration, config '{res['scale']}' ({where})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small model, 1 warm-up + 2 timed iterations: a ~2-minute smoke test")
    ap.add_argument("--scale", default="base", choices=["base", "2x", "4x", "r128", "gpt2s", "gpt2s-big"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: run every worker on the GPU (TF32 matmuls, synchronised phase timers)")
    ap.add_argument("--bf16", action="store_true", help="each library's bf16 mode over fp32 weights: TRL bf16=True (its default; autocast in its update only), instruct_goose mixed_precision='bf16' (every pass); on a GPU, MFU against the bf16 ceiling")
    ap.add_argument("--iters", type=int, default=None, help="timed iterations per system (default 5; 2 with --quick)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--systems", default="trl,ig-separate,ig-shared")
    ap.add_argument("--engine", default="auto", choices=["auto", "loop", "trainer"], help="instruct_goose: RLHFTrainer or the thin loop")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: torch's default, all cores); 1 is steadier on a busy machine")
    ap.add_argument("--scaling", nargs="+", default=None, metavar="RESULTS_JSON", help="only print a scaling table of several results JSONs")
    ap.add_argument("--runs", nargs="+", default=None, metavar="RESULTS_JSON", help="only summarise several runs of one config: ratios per run and pooled paired ratios")
    ap.add_argument("--render", default=None, metavar="RESULTS_JSON", help="only re-render the table and chart of a results JSON")
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = ap.parse_args()
    if args.scaling: print(scaling_table(args.scaling)); return
    if args.runs: print(runs_table(args.runs)); return
    if args.render:
        res = json.loads(Path(args.render).read_text()); stem = Path(args.render).with_suffix("")
        md = table(res); Path(f"{stem}.md").write_text(md + "\n"); plot(res, Path(f"{stem}.png")); print(md); return
    iters = args.iters or (2 if args.quick else 5)
    c = make_config(args.quick, args.scale)
    if args.threads:
        import torch
        os.environ["BENCH_THREADS"] = str(args.threads); torch.set_num_threads(args.threads)
    os.environ["BENCH_DEVICE"] = args.device
    os.environ["BENCH_BF16"] = "1" if args.bf16 else "0"   # always set: an exported BENCH_BF16 must not leak into an fp32 run
    name = ("quick-" if args.quick else "") + args.scale + ("-cuda" if args.device == "cuda" else "") + ("-bf16" if args.bf16 else "")
    out = Path(args.out) if args.out else HERE / "results"; out.mkdir(parents=True, exist_ok=True)
    logs = out / f"{name}-logs"; logs.mkdir(exist_ok=True)
    systems = args.systems.split(",")
    print(f"config {name}: {c.to_json()}", flush=True)
    if args.device == "cuda":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = True
        ceil_fn = cuda_matmul_ceiling
        bf16_ceiling = cuda_matmul_ceiling(dtype=torch.bfloat16)
    else: ceil_fn, bf16_ceiling = matmul_ceiling, None
    ceilings = [ceil_fn()]
    workers, ready = {}, {}
    for s in systems:                                     # one at a time: setup is not timed, but keep it off the others' CPU
        workers[s] = Worker(s, c, logs, args.engine); ready[s] = workers[s].read()
        print(f"{s}: ready in {ready[s]['setup_s']:.1f} s ({ready[s].get('engine', 'trl')})", flush=True)
    its = {s: [] for s in systems}
    try:
        for i in range(args.warmup + iters):
            order = systems if i % 2 == 0 else systems[::-1]   # alternate the order so no system always follows another
            for s in order:
                r = workers[s].step()
                tag = "warm-up" if i < args.warmup else "timed"
                print(f"[{i}] {s:12s} {r['seconds']:7.2f} s  cpu {r.get('cpu_seconds', 0):6.1f} s  ({tag})  rollout {r['phases']['rollout']:.2f}  update {r['phases']['update']:.2f}  "
                      f"rss {r['peak_rss_mib']:.0f} MiB  gpu {r.get('gpu_peak_mib', 0):.0f} MiB", flush=True)
                if i >= args.warmup: its[s].append(r)
                elif i == 0: its[s + ":first"] = r
            ceilings.append(ceil_fn(repeats=2))
    finally:
        byes = {s: w.close() for s, w in workers.items()}
    ceiling = max(ceilings)
    if args.bf16 and bf16_ceiling: ceiling = bf16_ceiling                # floors and MFU against the precision the matmuls run in
    res = {"scale": name, "config": asdict(c), "iters": iters, "warmup": args.warmup, "machine": machine(), "bf16": args.bf16,
           "ceiling_gflops": ceiling / 1e9, "bf16_ceiling_gflops": bf16_ceiling / 1e9 if bf16_ceiling else None, "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
           "when": time.strftime("%Y-%m-%d %H:%M:%S"), "systems": {}}
    for s in systems:
        res["systems"][s] = summarize(s, ready[s], its[s], byes[s], c, ceiling, res["machine"]["torch_threads"])
        res["systems"][s]["first_iteration_stats"] = its.get(s + ":first", {}).get("stats")
        res["systems"][s]["seconds_warmup"] = its.get(s + ":first", {}).get("seconds")
        res["systems"][s]["rss_after_phase_warmup"] = its.get(s + ":first", {}).get("rss_after_phase")   # which phase set the peak
    md = table(res)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    (out / f"{name}.md").write_text(md + "\n")
    plot(res, out / f"{name}.png")
    print(md)


if __name__ == "__main__":
    main()
