"""m4cxr.batch: worklists from Python, the same manifest format and output as `m4cxr batch`
(ctest python_batch; M4CXR_CLI names the m4cxr tool to compare with)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import m4cxr
import m4cxr.batch
from conftest import MODEL_DIR, image_path

CLI = os.environ.get("M4CXR_CLI")


def write_manifest(folder, lines):
    path = folder / "studies.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def read_output(path):
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the output ends inside a line"
    return [json.loads(line) for line in data.decode().split("\n") if line]


def worklist(folder, n):
    shutil.copy(image_path("rgb_150x200.jpg"), folder / "front.jpg")
    shutil.copy(image_path("gray8_70x70.png"), folder / "lateral.png")
    kinds = [
        {"task": "report", "images": ["front.jpg", "lateral.png"]},
        {"task": "classify", "image": "front.jpg", "labels": ["edema", "cardiomegaly"]},
        {"task": "ground", "image": "front.jpg", "phrase": "left effusion"},
        {"task": "ground", "image": "front.jpg", "organ": "lung"},
        {"task": "detect", "image": "lateral.png"},
        {"task": "identify", "image": "front.jpg", "boxes": [[30, 40, 120, 160]], "what": "region"},
        {"task": "vqa", "image": "front.jpg", "question": "Is there edema?", "max_new_tokens": 4},
        {"task": "vqa", "image": "front.jpg", "reference": "lateral.png", "question": "what changed?"},
    ]
    return [{"id": f"study-{k}", **kinds[k % len(kinds)]} for k in range(n)]


BROKEN = [
    "{not json",
    "[1, 2]",
    {"task": "detect", "image": "front.jpg"},
    {"id": "t", "task": "segment", "image": "front.jpg"},
    {"id": "n", "task": "detect", "image": "no/such.png"},
    {"id": "b", "task": "detect", "image": "broken.png"},
    {"id": "k", "task": "detect", "image": "front.jpg", "colour": "red"},
    {"id": "x", "task": "identify", "image": "front.jpg", "box": [1, 2, 3]},
    {"id": "study-0", "task": "detect", "image": "front.jpg"},
    {"id": "m", "task": "detect", "image": "front.jpg", "max_new_tokens": "ten"},
    {"id": "q", "task": "vqa", "image": "front.jpg"},
    {"id": "e", "task": "vqa", "image": "front.jpg", "question": ["a", "b"]},
    {"id": "c", "task": "detect", "image": "front.jpg", "constrained": 1},
    "[" * 100000 + "]" * 100000,
    {"id": "z", "task": "vqa", "image": "front.jpg", "question": "a\u0000b"},
    {"id": True, "task": "detect", "image": "front.jpg"},
    {"id": "d", "task": "detect", "image": "."},
    {"id": "l", "task": "vqa", "image": "front.jpg", "question": "x" * 100000},
]


def mixed_manifest(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    good = worklist(folder, 8)
    lines = []
    for k, bad in enumerate(BROKEN):
        lines += [good[k] if k < len(good) else "", bad]
    return write_manifest(folder, lines), {2 * k + 2 for k in range(len(BROKEN))}, [g["id"] for g in good]


def test_run_writes_every_item_and_matches_the_task_calls(tmp_path):
    manifest = write_manifest(tmp_path, worklist(tmp_path, 8))
    out = tmp_path / "results.jsonl"
    with m4cxr.Model(MODEL_DIR, dtype="float32", threads=1) as model:
        summary = m4cxr.batch.run(manifest, out, model=model, concurrency=2, max_new_tokens=12)
        assert (summary.ran, summary.errors, summary.skipped) == (8, 0, 0)
        rows = {r["id"]: r for r in read_output(out)}
        assert sorted(rows) == sorted(f"study-{k}" for k in range(8))
        assert [rows[f"study-{k}"]["task"] for k in range(8)] == [
            "report", "classify", "ground_phrase", "ground_organ", "detect_abnormalities", "identify_region", "vqa",
            "difference_vqa"]
        assert rows["study-6"]["replay"]["options"]["max_new_tokens"] == 4  # the line's own key wins
        assert rows["study-0"]["replay"]["options"]["max_new_tokens"] == 12
        assert rows["study-0"]["images"] == [str(tmp_path / "front.jpg"), str(tmp_path / "lateral.png")]
        with model.session() as s:  # the same calls by hand give the same (greedy) answers
            r = s.ground_phrase(str(tmp_path / "front.jpg"), "left effusion", max_new_tokens=12)
            assert rows["study-2"]["text"] == r.text
            r = s.identify_region(str(tmp_path / "front.jpg"), "region", [(30, 40, 120, 160)], max_new_tokens=12)
            assert rows["study-5"]["text"] == r.text
        again = m4cxr.batch.run(manifest, out, model=model)
        assert (again.ran, again.skipped) == (0, 8)
        assert len(read_output(out)) == 8


def test_broken_lines_and_bad_images_become_error_lines(tmp_path):
    manifest, bad_lines, good_ids = mixed_manifest(tmp_path)
    out = tmp_path / "results.jsonl"
    summary = m4cxr.batch.run(manifest, out, model=MODEL_DIR, dtype="float32", threads=1, concurrency=2,
                              max_new_tokens=6, progress=False)
    rows = read_output(out)
    errors = {r["line"]: r for r in rows if "error" in r}
    assert sorted(errors) == sorted(bad_lines)
    assert summary.errors == len(bad_lines)
    for r in errors.values():
        assert set(r) == {"id", "line", "error"} and r["error"]
    assert sorted(r["id"] for r in rows if "error" not in r) == sorted(good_ids)
    assert "no/such.png" in errors[10]["error"] and "segment" in errors[8]["error"]
    again = m4cxr.batch.run(manifest, out, model=MODEL_DIR, dtype="float32", threads=1, progress=False)
    assert again.ran == 0 and read_output(out) == rows


def test_the_cli_reads_a_manifest_the_same_way(tmp_path):
    """One mapping of manifest lines to tasks: the CLI's output has the same tasks, texts
    and error lines as Python's for the same manifest."""
    assert CLI, "M4CXR_CLI must name the m4cxr tool (the ctest python_batch sets it)"
    manifest, _, _ = mixed_manifest(tmp_path)
    py_out, cli_out = tmp_path / "py.jsonl", tmp_path / "cli.jsonl"
    m4cxr.batch.run(manifest, py_out, model=MODEL_DIR, dtype="float32", threads=1, max_new_tokens=6, progress=False)
    p = subprocess.run([CLI, "batch", "--model", str(MODEL_DIR), "--dtype", "fp32", "--threads", "1", "--manifest",
                        str(manifest), "--out", str(cli_out), "--max-new-tokens", "6"], capture_output=True, text=True)
    assert p.returncode == 3, p.stderr
    py = {r["line"]: r for r in read_output(py_out)}
    cli = {r["line"]: r for r in read_output(cli_out)}
    assert sorted(py) == sorted(cli)
    for line, r in py.items():
        assert ("error" in r) == ("error" in cli[line]), (line, r, cli[line])
        if "error" not in r:
            for key in ("id", "task", "text", "turns", "findings", "boxes", "images"):
                assert r[key] == cli[line][key], (line, key)


def test_a_killed_run_resumes_with_every_id_once(tmp_path):
    items = worklist(tmp_path, 120)
    manifest = write_manifest(tmp_path, items)
    out = tmp_path / "results.jsonl"
    code = ("import sys, m4cxr.batch; m4cxr.batch.run(sys.argv[1], sys.argv[2], model=sys.argv[3], dtype='float32', "
            "threads=1, concurrency=2, max_new_tokens=48, progress=False)")
    p = subprocess.Popen([sys.executable, "-c", code, str(manifest), str(out), str(MODEL_DIR)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
        assert p.poll() is None, "the run ended before it could be killed"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    first = read_output(out)
    assert 3 <= len(first) < len(items)
    with open(out, "a") as f:
        f.write('{"id": "study-119", "line": 120, "te')  # an older writer's crash mid-line
    summary = m4cxr.batch.run(manifest, out, model=MODEL_DIR, dtype="float32", threads=1, concurrency=2,
                              max_new_tokens=48, progress=False)
    assert summary.skipped == len(first) and summary.errors == 0
    final = read_output(out)
    assert final[:len(first)] == first
    assert sorted(r["id"] for r in final) == sorted(i["id"] for i in items)


def test_progress_bar_on_a_terminal_and_lines_otherwise():
    class Stream:
        def __init__(self, tty):
            self.tty, self.text = tty, ""

        def isatty(self):
            return self.tty

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    tty, plain = Stream(True), Stream(False)
    for stream in (tty, plain):
        bar = m4cxr.batch.Progress(4, stream)
        for k in range(4):
            bar.item_done(k == 1)
    assert tty.text.count("\r[") == 4 and "] 4/4, 1 errors" in tty.text and "ETA" in tty.text
    assert "\r" not in plain.text and plain.text.rstrip("\n").split("\n")[-1].startswith("m4cxr batch: 4/4 done, 1 errors")


def test_bad_arguments_raise():
    with pytest.raises(TypeError):
        m4cxr.batch.run("m.jsonl", "o.jsonl", model=MODEL_DIR, colour="red")
    with pytest.raises(ValueError):
        m4cxr.batch.run("m.jsonl", "o.jsonl", model=MODEL_DIR, concurrency=0)
    with pytest.raises(FileNotFoundError):
        m4cxr.batch.run("/no/such.jsonl", "/no/out.jsonl", model=MODEL_DIR)


def test_default_concurrency_follows_cores_and_memory(model):
    assert m4cxr.batch.default_concurrency() == 8  # as the CLI's: batched decoding shares passes
    assert m4cxr.batch.memory_concurrency(1, model) == 1
    # 256 MiB at least per item: no machine here holds a million items at once
    assert 1 <= m4cxr.batch.memory_concurrency(10**6, model) < 10**6


def test_an_ask_item_never_continues_the_previous_items_conversation(tmp_path, model):
    worklist(tmp_path, 0)
    first = {"id": "a", "task": "ask", "text": "first question of another patient", "image": "front.jpg"}
    second = {"id": "b", "task": "ask", "text": "What is the view?"}
    both = write_manifest(tmp_path, [first, second])
    m4cxr.batch.run(both, tmp_path / "both.out", model=model, concurrency=1, max_new_tokens=4, progress=False)
    after = {r["id"]: r for r in read_output(tmp_path / "both.out")}["b"]
    with model.session() as s:
        solo = s.chat("What is the view?", max_new_tokens=4)
    assert after["task"] == "chat" and after["stats"]["prompt_tokens"] == solo.stats.prompt_tokens
    assert after["text"] == solo.text
