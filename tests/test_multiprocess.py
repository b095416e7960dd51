"""Two CPU processes under `accelerate launch` (DDP over gloo): a failure on one process stops both, with clear
errors, instead of leaving the other waiting in a collective (a hang) or dying with a transport error.

The scenarios are in `multiprocess_scenarios.py`; a launch that hangs is killed by the timeout and fails the test.
"""
import os, socket, subprocess, sys
from pathlib import Path
import pytest

SCRIPT = Path(__file__).resolve().parent/"multiprocess_scenarios.py"

def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _launch(scenario, tmp_path):
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           str(SCRIPT), scenario, str(tmp_path/"run")]
    try: r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e: pytest.fail(f"{scenario}: the processes hung (killed after 240 s)\n{(e.stdout or b'')[-2000:]}")
    results = {str(k): (tmp_path/f"result-{k}.txt").read_text() for k in (0, 1) if (tmp_path/f"result-{k}.txt").exists()}
    assert set(results) == {"0", "1"}, f"{scenario}: not every process reported (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return results

@pytest.mark.parametrize("scenario, rank1, rank0", [
    ("reward", "ConnectionError: the reward server timed out", "RuntimeError: iteration 2's sampling or scoring failed on process 1 (ConnectionError: the reward server timed out)"),
    ("update", "ValueError", "RuntimeError: a micro-batch's PPO-ptx pass or checks failed on process 1 (ValueError"),
    ("ptx", "MemoryError: out of memory in the PPO-ptx pass", "RuntimeError: a micro-batch's PPO-ptx pass or checks failed on process 1 (MemoryError"),
    ("callback", "RuntimeError: the callback after iteration 2 failed on process 0 (ConnectionError", "ConnectionError: the logging server is down"),
    ("sft", "MemoryError", "RuntimeError: SFT step 2's forward pass failed on process 1 (MemoryError"),
    ("reward_model_fails", "MemoryError", "RuntimeError: reward-model step 2's forward pass failed on process 1 (MemoryError"),
    ("uneven", "ValueError: step() got [4, 2] episodes", "ValueError: step() got [4, 2] episodes"),
    ("save", "RuntimeError: saving", "RuntimeError: saving"),
])
def test_one_process_fails(scenario, rank1, rank0, tmp_path):
    res = _launch(scenario, tmp_path)
    assert res["1"].startswith(rank1), res
    assert res["0"].startswith(rank0), res
    assert "finite weights: True" in res["0"] and "finite weights: True" in res["1"], res     # no NaN gradient was applied
    if scenario == "save": assert "No space left on device" in res["1"] and "process 1" in res["0"], res

def test_reward_model_history(tmp_path):
    res = _launch("reward_model", tmp_path)
    assert res["0"].startswith("ok [") and res["0"] == res["1"], res        # the same loss and accuracy on both processes
