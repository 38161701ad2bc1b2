#!/usr/bin/env python3
"""Tests of `m4cxr batch` (worklists) on the tiny golden model.

Usage: test_batch.py PATH_TO_m4cxr GOLDEN_DIR. Prints 'N passed, N failed' and exits
non-zero on failure."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CLI, GOLDEN = sys.argv[1], sys.argv[2]
MODEL = os.path.join(GOLDEN, "models", "merged_fp32")
IMG = lambda n: os.path.join(GOLDEN, "images", n)  # noqa: E731
COMMON = ["--model", MODEL, "--dtype", "fp32", "--threads", "1"]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cases import case, finish  # noqa: E402


def batch(manifest, out, *extra):
    p = subprocess.run([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, *extra],
                       capture_output=True, text=True, timeout=600)
    return p.returncode, p.stderr


def write_manifest(folder, lines):
    path = os.path.join(folder, "studies.jsonl")
    with open(path, "w") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def read_output(path):
    """Every line of the output, parsed; each must be a complete JSON line."""
    data = open(path, "rb").read()
    assert data == b"" or data.endswith(b"\n"), "the output ends inside a line"
    return [json.loads(line) for line in data.decode().split("\n") if line]


def worklist(folder, n):
    """n items cycling through every task command; images relative to the manifest."""
    shutil.copy(IMG("rgb_150x200.jpg"), os.path.join(folder, "front.jpg"))
    shutil.copy(IMG("gray8_70x70.png"), os.path.join(folder, "lateral.png"))
    kinds = [
        {"task": "report", "images": ["front.jpg", "lateral.png"]},
        {"task": "classify", "image": "front.jpg", "labels": ["edema", "cardiomegaly"]},
        {"task": "ground", "image": "front.jpg", "phrase": "left effusion"},
        {"task": "detect", "image": "lateral.png"},
        {"task": "identify", "image": "front.jpg", "box": [30, 40, 120, 160], "what": "region"},
        {"task": "vqa", "image": "front.jpg", "question": "Is there edema?", "max_new_tokens": 4},
    ]
    return [{"id": f"study-{k}", **kinds[k % len(kinds)]} for k in range(n)]


@case
def resumes_after_sigkill_with_every_id_once():
    with tempfile.TemporaryDirectory() as d:
        items = worklist(d, 120)
        manifest = write_manifest(d, items)
        out = os.path.join(d, "results.jsonl")
        p = subprocess.Popen([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, "--concurrency", "2",
                              "--max-new-tokens", "48"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 300
            while time.time() < deadline and p.poll() is None:
                if os.path.exists(out) and open(out, "rb").read().count(b"\n") >= 3:
                    break
                time.sleep(0.02)
            assert p.poll() is None, "the run ended before it could be killed"
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == -signal.SIGKILL
        first = read_output(out)
        assert 3 <= len(first) < len(items), len(first)
        # an older writer's crash mid-line: the partial line is cut off and its item redone
        missing = next(i["id"] for i in items if i["id"] not in {r["id"] for r in first})
        with open(out, "a") as f:
            f.write('{"id": "%s", "line": 1, "text": "half a li' % missing)
        rc, err = batch(manifest, out, "--concurrency", "2", "--max-new-tokens", "48")
        assert rc == 0, err
        assert f"{len(first)} item(s) already in" in err and "partial last line" in err, err
        final = read_output(out)
        assert sorted(r["id"] for r in final) == sorted(i["id"] for i in items), "every id exactly once"
        assert final[:len(first)] == first, "earlier lines are kept as they were"
        assert not [r for r in final if "error" in r], [r for r in final if "error" in r]
        by_id = {r["id"]: r for r in final}
        for k, item in enumerate(items):
            r = by_id[item["id"]]
            assert r["line"] == k + 1
            assert r["task"] == {"report": "report", "classify": "classify", "ground": "ground_phrase",
                                 "detect": "detect_abnormalities", "identify": "identify_region",
                                 "vqa": "vqa"}[item["task"]], (item, r["task"])
            assert r["replay"]["options"]["max_new_tokens"] == item.get("max_new_tokens", 48)
            assert r["images"][0] == os.path.join(d, item.get("image", (item.get("images") or [""])[0]))
        assert len(by_id["study-0"]["replay"]["image_hashes"]) == 2
        assert by_id["study-2"]["turns"][0]["user"].endswith("describes: left effusion")
        assert by_id["study-4"]["turns"][0]["user"].endswith("anatomical region name for this region. [20,10,80,90]")
        # the same item from the task command gives the same answer (greedy)
        p = subprocess.run([CLI, "ground", *COMMON, "--image", os.path.join(d, "front.jpg"), "--phrase",
                            "left effusion", "--max-new-tokens", "48", "--json"], capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["text"] == by_id["study-2"]["text"]
        # once complete, a rerun has nothing to do and leaves the output as it is
        rc, err = batch(manifest, out)
        assert rc == 0 and "nothing to do" in err, err
        assert read_output(out) == final


@case
def broken_lines_and_bad_images_become_error_lines():
    with tempfile.TemporaryDirectory() as d:
        broken_png = os.path.join(d, "broken.png")
        with open(broken_png, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nbroken")
        good = worklist(d, 3)
        lines = [
            good[0],                                                       # 1
            "{not json",                                                   # 2
            "[1, 2]",                                                      # 3
            {"task": "detect", "image": "front.jpg"},                      # 4 no id
            {"id": "t", "task": "segment", "image": "front.jpg"},          # 5 unknown task
            {"id": "n", "task": "detect", "image": "no/such.png"},         # 6 unreadable image
            {"id": "b", "task": "detect", "image": broken_png},            # 7 corrupt image
            good[1],                                                       # 8
            {"id": "k", "task": "detect", "image": "front.jpg", "colour": "red"},           # 9 unknown key
            {"id": "x", "task": "identify", "image": "front.jpg", "box": [1, 2, 3]},        # 10 bad box
            {"id": "study-0", "task": "detect", "image": "front.jpg"},     # 11 duplicate id
            {"id": "m", "task": "detect", "image": "front.jpg", "max_new_tokens": "ten"},   # 12 wrong type
            {"id": "q", "task": "vqa", "image": "front.jpg"},              # 13 no question
            {"id": "e", "task": "vqa", "image": "front.jpg", "question": ["a", "b"]},      # 14 list for one value
            "",                                                            # 15 blank: not an item
            good[2],                                                       # 16
        ]
        manifest = write_manifest(d, lines)
        with open(manifest, "ab") as f:  # 17: not UTF-8, 18: nested deeper than any parser's stack
            f.write(b"\xff\xfe{\"id\": 1}\n" + b"[" * 200000 + b"]" * 200000 + b"\n")
        out = os.path.join(d, "results.jsonl")
        rc, err = batch(manifest, out, "--max-new-tokens", "6")
        assert rc == 3, (rc, err)
        assert "m4cxr batch: 6/6 done, 3 errors" in err, err  # plain progress lines: stderr is not a terminal
        rows = read_output(out)
        assert sorted(r["line"] for r in rows) == [n for n in range(1, 19) if n != 15]
        errors = {r["line"]: r for r in rows if "error" in r}
        assert sorted(errors) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 17, 18], sorted(errors)
        for n, r in errors.items():
            assert set(r) == {"id", "line", "error"} and r["error"], r
        assert errors[2]["id"] is None and errors[4]["id"] is None and errors[11]["id"] is None
        assert errors[5]["id"] == "t" and "segment" in errors[5]["error"]
        assert "no/such.png" in errors[6]["error"] and "broken.png" in errors[7]["error"]
        assert "colour" in errors[9]["error"] and "box" in errors[10]["error"]
        assert "duplicate" in errors[11]["error"] and "max_new_tokens" in errors[12]["error"]
        assert "--question" in errors[13]["error"] and "one value" in errors[14]["error"]
        assert sorted(r["id"] for r in rows if "error" not in r) == ["study-0", "study-1", "study-2"]
        # a rerun skips the error lines too (with or without an id): nothing is written twice
        rc, err = batch(manifest, out)
        assert rc == 0 and "nothing to do" in err, err
        assert read_output(out) == rows


@case
def progress_bar_with_rate_and_eta_on_a_terminal():
    import pty
    with tempfile.TemporaryDirectory() as d:
        manifest = write_manifest(d, worklist(d, 6))
        out = os.path.join(d, "results.jsonl")
        master, slave = pty.openpty()
        p = subprocess.Popen([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, "--max-new-tokens", "4"],
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        text = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal's other end closed: the program ended
                break
            if not chunk:
                break
            text += chunk
        os.close(master)
        assert p.wait(timeout=120) == 0
        text = text.decode(errors="replace")
        assert text.count("\r[") == 6 and "] 6/6, 0 errors" in text and "items/s, ETA " in text, text
        assert "m4cxr batch: 6/6 done" not in text  # no plain lines on a terminal


@case
def an_ask_item_never_continues_the_previous_items_conversation():
    with tempfile.TemporaryDirectory() as d:
        worklist(d, 0)  # the images
        first = {"id": "a", "task": "ask", "text": "first question of another patient", "image": "front.jpg"}
        second = {"id": "b", "task": "ask", "text": "What is the view?"}
        both, alone = os.path.join(d, "both.jsonl"), os.path.join(d, "alone.jsonl")
        for path, lines in ((both, [first, second]), (alone, [second])):
            with open(path, "w") as f:
                f.write("".join(json.dumps(x) + "\n" for x in lines))
            rc, err = batch(path, path + ".out", "--concurrency", "1", "--max-new-tokens", "4")
            assert rc == 0, err
        after = {r["id"]: r for r in read_output(both + ".out")}["b"]
        solo = read_output(alone + ".out")[0]
        assert after["task"] == "chat" and after["stats"]["prompt_tokens"] == solo["stats"]["prompt_tokens"]
        assert after["text"] == solo["text"] and "another patient" not in json.dumps(after["turns"])


@case
def usage_errors():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.jsonl")
        rc, err = batch("/no/such.jsonl", out)
        assert rc == 3 and "/no/such.jsonl" in err and not os.path.exists(out), (rc, err)
        p = subprocess.run([CLI, "batch", *COMMON, "--out", out], capture_output=True, text=True)
        assert p.returncode == 2 and "--manifest" in p.stderr
        manifest = write_manifest(d, worklist(d, 1))
        p = subprocess.run([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, "--image", IMG("gray8_70x70.png")],
                           capture_output=True, text=True)
        assert p.returncode == 2 and "manifest" in p.stderr and not os.path.exists(out)
        p = subprocess.run([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, "--draw", "x.png"],
                           capture_output=True, text=True)
        assert p.returncode == 2 and "--draw" in p.stderr and not os.path.exists(out)
        p = subprocess.run([CLI, "batch", *COMMON, "--manifest", manifest, "--out", out, "--concurrency", "0"],
                           capture_output=True, text=True)
        assert p.returncode == 2 and "--concurrency" in p.stderr and not os.path.exists(out)
    p = subprocess.run([CLI, "batch", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--concurrency" in p.stdout
    p = subprocess.run([CLI, "--help"], capture_output=True, text=True)
    assert "batch" in p.stdout


finish()
