"""The source distribution that `pip install instruct-goose` gets: every module, no tests that could not run, and a
README whose links work on PyPI (where the repository's files are not beside it)."""
import re, subprocess, sys, tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_sdist(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
        pkg_info = tf.extractfile(next(m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))).read().decode()
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT/"instruct_goose").glob("*.py"))
    assert modules and all(m in names for m in modules), f"modules missing from the sdist: {set(modules) - set(names)}"
    assert not any(n.startswith("tests/") for n in names), "the sdist ships tests/, which need nbs/ (not shipped) to run"
    # every link of the long description is absolute, and an image link points at a file the repository has
    links = re.findall(r"(!?)\[[^\]]*\]\(([^)\s]+)\)", pkg_info)
    assert any(img for img, _ in links), "the README is expected to show at least one image"
    relative = [u for _, u in links if not re.match(r"[a-z][a-z0-9+.-]*:|#", u)]
    assert not relative, f"relative links break on PyPI: {relative}"
    for img, url in links:
        m = re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[^/]+/(.+)", url)
        if img and m: assert (ROOT/m.group(1)).exists(), f"{url} names {m.group(1)}, which is not in the repository"
