#!/usr/bin/env python3
"""Runs the README's worklist section as a user would paste it, from a copy of the
repository's layout (tests/ and build/m4cxr): the `m4cxr batch` block, the Dask
LocalCluster block, and the several-hosts block on this host (`dask scheduler`, `dask
worker`, the client pointed at them); checks each output has every id of the manifest
once and the error line for the missing image.
Usage: run_worklist.py README REPO M4CXR_TOOL PYTHON_PACKAGE_PARENT_DIR"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

readme, repo, tool, package_dir = (os.path.abspath(a) for a in sys.argv[1:5])
MODEL = os.path.join(repo, "tests", "data", "golden", "models", "merged_fp32")
text = open(readme).read()
section = text[text.index("## Worklists"):]
section = section[:section.index("\n## ", 1)]
blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
assert len(blocks) == 3, f"expected 3 sh blocks in the worklist section, found {len(blocks)}"


def check(path, tmp, max_new_tokens=24):
    data = open(path).read()
    assert data.endswith("\n")
    rows = [json.loads(x) for x in data.split("\n") if x]
    assert sorted(r["id"] for r in rows) == ["s1", "s2", "s3", "s4", "s5"], rows
    errors = [r for r in rows if "error" in r]
    assert [r["id"] for r in errors] == ["s5"] and "missing.png" in errors[0]["error"], errors
    ok = {r["id"]: r for r in rows if "error" not in r}
    assert ok["s1"]["task"] == "report" and len(ok["s1"]["replay"]["image_hashes"]) == 2
    assert ok["s1"]["replay"]["options"]["max_new_tokens"] == 40 and ok["s4"]["replay"]["options"]["max_new_tokens"] == max_new_tokens


with tempfile.TemporaryDirectory() as tmp:
    os.symlink(os.path.join(repo, "tests"), os.path.join(tmp, "tests"))
    os.mkdir(os.path.join(tmp, "build"))
    os.symlink(tool, os.path.join(tmp, "build", "m4cxr"))
    env = dict(os.environ, PYTHONPATH=package_dir)
    p = subprocess.run(["bash", "-c", blocks[0]], cwd=tmp, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 3, (p.returncode, p.stderr)  # s5 is an error line
    check(os.path.join(tmp, "results.jsonl"), tmp)
    p = subprocess.run(["bash", "-c", blocks[1]], cwd=tmp, capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    check(os.path.join(tmp, "results-dask.jsonl"), tmp)
    # the several-hosts block on this one host: host A is 127.0.0.1, on a free port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    lines = [x.split("#")[0].strip() for x in blocks[2].replace("\\\n", " ").splitlines()]
    lines = [x.replace("hostA", "127.0.0.1").replace("8786", port).replace("/shared/M4CXR-TNNLS", MODEL)
             for x in lines if x]
    assert lines[0].startswith("dask scheduler") and lines[1].startswith("dask worker"), lines
    os.remove(os.path.join(tmp, "results.jsonl"))
    servers = [subprocess.Popen(["bash", "-c", "exec " + lines[0] + " --host 127.0.0.1 --no-dashboard"], cwd=tmp,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        servers.append(subprocess.Popen(["bash", "-c", "exec " + lines[1] + " --no-dashboard"], cwd=tmp, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        p = subprocess.run(["bash", "-c", "\n".join(lines[2:])], cwd=tmp, capture_output=True, text=True, timeout=240,
                           env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        check(os.path.join(tmp, "results.jsonl"), tmp, max_new_tokens=500)  # the CLI's default
    finally:
        for s in reversed(servers):
            s.terminate()
            try:
                s.wait(timeout=30)
            except subprocess.TimeoutExpired:
                s.kill()
print("1 passed, 0 failed")
