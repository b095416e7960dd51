"""Run every notebook in `nbs/` as a test, the way `nbdev_test` does, one pytest item per notebook.

Cells flagged `#| slow` run too (with small settings); set `IG_SKIP_SLOW=1` to skip them.
Select notebooks with `-k`, e.g. `pytest -k gae`.
"""
import os
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook

NBS = Path(__file__).resolve().parents[1]/"nbs"
notebooks = sorted(p for p in NBS.rglob("*.ipynb")
                   if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))

@pytest.mark.parametrize("nb", notebooks, ids=[str(p.relative_to(NBS)) for p in notebooks])
def test_notebook(nb):
    skip = ["slow"] if os.environ.get("IG_SKIP_SLOW") else []
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=[] if skip else ["slow"], basepath=NBS.parent)
    assert ok, f"{nb.name} failed (its traceback is printed above)"
