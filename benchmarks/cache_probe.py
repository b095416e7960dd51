"""How much last-level cache one core gets: decode attention (one query per row, `F.scaled_dot_product_attention`)
timed alone while cycling through n K/V caches of 8 MiB each (B = 64 rows, 4 heads, 64 positions of 64 dims, 48 of
them read). With n = 1 the cache stays in cache; once n caches no longer fit, every call streams its 6 MiB from memory.

    python benchmarks/cache_probe.py          # one torch thread
"""
import time
import torch
import torch.nn.functional as F


def per_call_ms(n_caches:int, reps:int=40, B:int=64, H:int=4, L:int=48, d:int=64) -> float:
    ks = [torch.randn(B, H, 64, d) for _ in range(n_caches)]; vs = [torch.randn(B, H, 64, d) for _ in range(n_caches)]
    q = torch.randn(B, H, 1, d)
    for k, v in zip(ks, vs): F.scaled_dot_product_attention(q, k[:, :, :L], v[:, :, :L], scale=d ** -0.5)   # warm-up
    t0 = time.perf_counter()
    for r in range(reps):
        i = r % n_caches
        F.scaled_dot_product_attention(q, ks[i][:, :, :L], vs[i][:, :, :L], scale=d ** -0.5)
    return (time.perf_counter() - t0) / reps * 1e3


if __name__ == "__main__":
    torch.set_num_threads(1)
    for n in (1, 2, 4, 8, 16, 32):
        print(f"{n:3d} caches of 8 MiB: {min(per_call_ms(n) for _ in range(3)):.3f} ms per call")
