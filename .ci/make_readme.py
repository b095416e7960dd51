#!/usr/bin/env python
"""Render `nbs/index.ipynb` to `README.md` offline (Quarto is not needed).

Cells flagged `#| hide` are dropped, `#| echo: false` cells show only their outputs, other
`#|` directives are stripped. Images in outputs are written to `README_files/`.

    python .ci/make_readme.py          # write README.md
    python .ci/make_readme.py --check  # exit 1 when README.md is not what index.ipynb renders to
"""
import base64, re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB, README, IMGS = ROOT/"nbs"/"index.ipynb", ROOT/"README.md", "README_files"
_dir = re.compile(r"^\s*#\|\s*(.*)$")

def directives(src):
    d, body = {}, []
    for line in src.splitlines():
        m = _dir.match(line)
        if m:
            k, _, v = m.group(1).partition(":") if ":" in m.group(1) else (m.group(1), "", "")
            d[k.strip()] = v.strip()
        else: body.append(line)
    return d, "\n".join(body).strip("\n")

def render():
    nb = nbformat.read(NB, as_version=4)
    parts, files = [], {}
    for cell in nb.cells:
        d, src = directives(cell.source)
        if "hide" in d or "export" in d or "exporti" in d or "default_exp" in d: continue
        if cell.cell_type == "markdown": parts.append(src); continue
        if cell.cell_type != "code": continue
        if d.get("echo", "true").lower() != "false" and src: parts.append(f"```python\n{src}\n```")
        if d.get("output", "true").lower() == "false": continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "stream":   # stdout only: progress bars and warnings go to stderr
                if out.get("name") == "stdout" and out["text"].strip(): parts.append(f"```\n{out['text'].rstrip()}\n```")
            elif "image/png" in data:
                name = f"{IMGS}/fig-{len(files)+1}.png"
                files[name] = base64.b64decode(data["image/png"])
                parts.append(f"![]({name})")
            elif "text/markdown" in data: parts.append("".join(data["text/markdown"]).strip())
            elif "text/plain" in data: parts.append(f"```\n{''.join(data['text/plain']).rstrip()}\n```")
    head = "<!-- generated from nbs/index.ipynb by `python .ci/make_readme.py`: edit the notebook, not this file -->\n\n"
    return head + "\n\n".join(p for p in parts if p) + "\n", files

def main(check=False):
    text, files = render()
    stale = [n for n, b in files.items() if not (ROOT/n).exists() or (ROOT/n).read_bytes() != b]
    if not README.exists() or README.read_text() != text: stale.append("README.md")
    if check:
        if stale: print(f"README is stale ({', '.join(stale)}): run `python .ci/make_readme.py` and commit"); return 1
        print("README.md is current"); return 0
    (ROOT/IMGS).mkdir(exist_ok=True)
    for old in (ROOT/IMGS).glob("fig-*.png"):
        if f"{IMGS}/{old.name}" not in files: old.unlink()
    for n, b in files.items(): (ROOT/n).write_bytes(b)
    README.write_text(text)
    print(f"wrote README.md and {len(files)} image(s)")
    return 0

if __name__ == "__main__": sys.exit(main("--check" in sys.argv))
