"""Run every notebook in `nbs/` as a test, the way `nbdev_test` does, one pytest item per notebook.

Cells flagged `#| slow` run too (with small settings); set `IG_SKIP_SLOW=1` to skip them.
Select notebooks with `-k`, e.g. `pytest -k gae`.

Besides "no cell raised", each test checks that every code cell really ran: nbdev's runner passes a
notebook whose front matter says `skip_exec` without running anything, and a cell that stops the
loop early would leave the cells after it unrun. The only code cells it may pass over are the ones
it is told to (`#| eval: false`, the `nbdev_export()` cell, `#| slow` under `IG_SKIP_SLOW=1`).
"""
import os
from pathlib import Path

import pytest
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
from nbdev.test import test_nb as run_notebook

NBS = Path(__file__).resolve().parents[1]/"nbs"
notebooks = sorted(p for p in NBS.rglob("*.ipynb")
                   if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))

def run_counting_cells(nb:Path, skip_slow:bool=False):
    "`nbdev.test.test_nb` on `nb`; returns (ok, seconds, code cells, cells run, cells passed over)."
    code, ran, passed_over = [], [], []
    orig = CaptureShell.run_all
    def run_all(self, nb_, exc_stop=False, preproc=lambda c: False, postproc=lambda c: False, **kw):
        code.extend(c for c in nb_.cells if c.cell_type == "code")
        def pre(cell):
            r = preproc(cell)
            if r and cell.cell_type == "code": passed_over.append(cell)
            return r
        def post(cell):
            ran.append(cell)
            return postproc(cell)
        return orig(self, nb_, exc_stop=exc_stop, preproc=pre, postproc=post, **kw)
    CaptureShell.run_all = run_all
    try:
        skip = ["slow"] if skip_slow else []
        ok, secs = run_notebook(nb, skip_flags=skip, force_flags=[] if skip else ["slow"], basepath=NBS.parent)
    finally: CaptureShell.run_all = orig
    if not code: code = [c for c in read_nb(nb).cells if c.cell_type == "code"]   # run_all never called: nothing ran
    return ok, secs, code, ran, passed_over

@pytest.mark.parametrize("nb", notebooks, ids=[str(p.relative_to(NBS)) for p in notebooks])
def test_notebook(nb):
    skip_slow = bool(os.environ.get("IG_SKIP_SLOW"))
    ok, secs, code, ran, passed_over = run_counting_cells(nb, skip_slow)
    assert ok, f"{nb.name} failed (its traceback is printed above)"
    print(f"{nb.name}: ran {len(ran)} of {len(code)} code cells in {secs:.1f} s")
    assert len(ran) + len(passed_over) == len(code), f"{nb.name}: only {len(ran)} of {len(code)} code cells ran ({len(passed_over)} passed over on purpose)"
    if not skip_slow:
        slow = [c.source.splitlines()[0] for c in passed_over if "slow" in (getattr(c, "directives_", None) or {})]
        assert not slow, f"{nb.name}: `#| slow` cells were passed over: {slow}"
