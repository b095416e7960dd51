"""Device placement on a (virtual) GPU, on CPU-only machines: runs `device_scenarios.py` in a subprocess.

The scenarios put the models on the virtual GPU of `virtual_gpu.py` (accelerate's device is `meta:0`, some models are
split over two devices like `device_map`) and fail where a real GPU would raise a device mismatch. A subprocess keeps
their global settings (ACCELERATE_TORCH_DEVICE, accelerate's state, the torch modes) out of the other tests.
Run them directly for the details: `python tests/device_scenarios.py`.
"""
import os, subprocess, sys
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent/"device_scenarios.py"

def test_device_placement():
    r = subprocess.run([sys.executable, str(SCENARIOS)], env=dict(os.environ), cwd=SCENARIOS.parents[1],
                       capture_output=True, text=True, timeout=900)
    lines = r.stdout.splitlines()
    failures = "\n".join(l for l in lines if l.startswith(("FAIL", "      at")))
    assert r.returncode == 0, f"device scenarios failed (exit status {r.returncode}, {lines[-1] if lines else 'no output'}):\n{failures or r.stderr[-3000:]}"
