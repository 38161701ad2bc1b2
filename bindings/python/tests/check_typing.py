#!/usr/bin/env python3
"""`mypy --strict` over what a Python user writes: examples/python/*.py and the README's
Python snippets, against the built package (its own modules are followed but their
errors are not this check's subject). Usage: check_typing.py REPO PACKAGE_PARENT_DIR.
Prints 'N passed, N failed'."""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

repo, package_dir = pathlib.Path(sys.argv[1]), sys.argv[2]
sources = sorted(str(p) for p in (repo / "examples" / "python").glob("*.py"))
snippets = re.findall(r"```python\n(.*?)```", (repo / "README.md").read_text(), re.S)
results = []
with tempfile.TemporaryDirectory() as tmp:
    for i, code in enumerate(snippets):
        path = os.path.join(tmp, f"readme_snippet_{i}.py")
        with open(path, "w") as f:
            f.write(code)
        sources.append(path)
    config = os.path.join(tmp, "mypy.ini")
    with open(config, "w") as f:
        f.write("[mypy]\nstrict = True\ncache_dir = " + os.path.join(tmp, "cache") + "\n"
                "[mypy-m4cxr.*]\nfollow_imports = silent\n[mypy-PIL.*]\nignore_missing_imports = True\n")
    env = dict(os.environ, MYPYPATH=package_dir)
    for src in sources:
        p = subprocess.run([sys.executable, "-m", "mypy", "--config-file", config, src], capture_output=True, text=True,
                           env=env)
        ok = p.returncode == 0
        results.append(ok)
        if not ok:
            print(f"FAILED {os.path.basename(src)}:\n{p.stdout}{p.stderr}")
if not snippets:
    print("FAILED: no ```python snippet found in README.md")
    results.append(False)
print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
