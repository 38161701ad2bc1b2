#!/usr/bin/env python3
"""The C worklist example (examples/c/worklist.c): every id once, error lines for bad
items, a rerun skips what is done and cuts a partial last line.

Usage: test_worklist.py PATH_TO_m4cxr_worklist_c GOLDEN_DIR"""
import json
import os
import subprocess
import sys
import tempfile

EXE, GOLDEN = sys.argv[1], sys.argv[2]
MODEL = os.path.join(GOLDEN, "models", "merged_fp32")
IMG = os.path.join(GOLDEN, "images", "rgb_150x200.jpg")

with tempfile.TemporaryDirectory() as d:
    lines = []
    for k in range(12):
        if k % 3 == 0:
            lines.append(f"s{k}\treport\timages=@{IMG}\timages=@{IMG}")
        elif k % 3 == 1:
            lines.append(f"s{k}\tvqa\timage=@{IMG}\tquestion=Is there edema?")
        else:
            lines.append(f"s{k}\tground_phrase\timage=@{IMG}\tphrase=left effusion")
    lines += [f"bad-image\tdetect_abnormalities\timage=@{d}/no.png", f"bad-task\tsegment\timage=@{IMG}",
              f"bad-arg\tvqa\timage=@{IMG}\tquestion=Why?\tcolour=red", "bad id!\tvqa"]
    tsv, out = os.path.join(d, "work.tsv"), os.path.join(d, "out.jsonl")
    with open(tsv, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out, "w") as f:  # done before, and a partial line of a crashed writer
        f.write('{"id":"s0","text":"done before"}\n{"id":"s1","te')
    p = subprocess.run([EXE, MODEL, tsv, out, "2", "8"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "partial last line" in p.stderr and "1 already in" in p.stderr and "left out" in p.stderr, p.stderr
    data = open(out).read()
    assert data.endswith("\n")
    rows = [json.loads(x) for x in data.split("\n") if x]
    ids = sorted(r["id"] for r in rows)
    assert ids == sorted([f"s{k}" for k in range(12)] + ["bad-image", "bad-task", "bad-arg"]), ids
    by_id = {r["id"]: r for r in rows}
    assert by_id["s0"]["text"] == "done before"
    assert "no.png" in by_id["bad-image"]["error"] and "segment" in by_id["bad-task"]["error"]
    assert "colour" in by_id["bad-arg"]["error"]
    assert by_id["s2"]["task"] == "ground_phrase" and by_id["s3"]["task"] == "report"
    assert len(by_id["s3"]["turns"]) == 2 and by_id["s4"]["replay"]["options"]["max_new_tokens"] == 8
    p = subprocess.run([EXE, MODEL, tsv, out, "2", "8"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "0 item(s) to run, 15 already in" in p.stderr, p.stderr
    assert open(out).read() == data
print("c worklist example: passed")
