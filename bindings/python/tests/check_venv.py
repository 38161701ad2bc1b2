#!/usr/bin/env python3
"""ctest python_venv: a user's `pip install ./bindings/python` into a fresh virtual
environment, against libm4cxr installed into a temporary prefix, then a report from that
environment's interpreter (no PYTHONPATH, no Debian dist-packages).
Usage: check_venv.py REPO BUILD_DIR MODEL IMAGE. Prints 'N passed, N failed'."""
import os
import shutil
import subprocess
import sys
import tempfile

repo, build, model, image = sys.argv[1:5]
tmp = tempfile.mkdtemp(prefix="m4cxr_venv_")
try:
    prefix = os.path.join(tmp, "prefix")
    subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True, capture_output=True)
    pc = [os.path.join(prefix, d, "pkgconfig") for d in ("lib", os.path.join("lib", "x86_64-linux-gnu"))]
    # A copy of what the binding's setup.py reads, so the build leaves nothing in the tree.
    src = os.path.join(tmp, "repo")
    shutil.copytree(os.path.join(repo, "bindings", "python"), os.path.join(src, "bindings", "python"),
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    shutil.copytree(os.path.join(repo, "tools"), os.path.join(src, "tools"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(os.path.join(src, "src", "tasks"))
    shutil.copy(os.path.join(repo, "src", "tasks", "task_table.json"), os.path.join(src, "src", "tasks"))
    venv = os.path.join(tmp, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    env["PKG_CONFIG_PATH"] = os.pathsep.join(pc)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                    os.path.join(src, "bindings", "python")], check=True, env=env, cwd=tmp)
    check = ("import m4cxr, sys\n"
             "assert m4cxr.__file__.startswith(sys.prefix), m4cxr.__file__\n"
             f"with m4cxr.Model({model!r}, dtype='float32', threads=1) as m, m.session() as s:\n"
             f"    r = s.report({image!r}, max_new_tokens=4)\n"
             "    assert len(r.turns) == 2 and r.stats.generated_tokens > 0\n"
             "print('report from', m4cxr.__file__)\n")
    p = subprocess.run([py, "-c", check], env=env, cwd=tmp, capture_output=True, text=True)
    ok = p.returncode == 0
    print(p.stdout + p.stderr)
    print(f"{int(ok)} passed, {int(not ok)} failed")
    sys.exit(0 if ok else 1)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
