#!/usr/bin/env python3
"""Tests of the `m4cxr` command-line tool on the tiny golden model.

Usage: test_cli.py PATH_TO_m4cxr GOLDEN_DIR. Prints 'N passed, N failed' and exits non-zero on failure.
Needs numpy (Debian's /usr/bin/python3) for the trace and --draw checks."""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

CLI, GOLDEN = sys.argv[1], sys.argv[2]
MODEL = os.path.join(GOLDEN, "models", "merged_fp32")
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "tasks", "task_table.json")
MAN = json.load(open(os.path.join(GOLDEN, "manifest.json")))
IMG = lambda n: os.path.join(GOLDEN, "images", n)  # noqa: E731
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cases import case, finish  # noqa: E402


def run(args, stdin=None, env=None):
    p = subprocess.run([CLI] + args, input=stdin, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **env) if env else None)
    return p.returncode, p.stdout, p.stderr


def read_png(path):
    """Minimal PNG reader for stb's 8-bit RGB output (no interlace)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype == 2
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * 3
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - 3] if x >= 3 else 0
            b = prev[x]
            c = prev[x - 3] if x >= 3 else 0
            if f == 0: pr = 0
            elif f == 1: pr = a
            elif f == 2: pr = b
            elif f == 3: pr = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pr) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, 3).astype(np.uint8)


@case
def help_and_usage_errors():
    rc, out, _ = run(["--help"])
    assert rc == 0 and "report" in out and "trace" in out
    for cmd in ["report", "classify", "ground", "detect", "identify", "vqa", "chat", "info", "trace"]:
        rc, out, _ = run([cmd, "--help"])
        assert rc == 0 and out.startswith("usage: m4cxr " + cmd) and "--max-new-tokens" in out, cmd
    assert run(["frobnicate"])[0] == 2
    assert run([])[0] == 2
    assert run(["report", "--model", MODEL])[0] == 2                       # no image
    assert run(["report", "--model", MODEL, "--image", IMG("gray8_70x70.png"), "--max-new-tokens", "zero"])[0] == 2
    # Numbers are whole strings in range: no wrap-around, no blanks, no NaN (issue 9).
    for flag, value in (("--max-new-tokens", "4294967297"), ("--max-new-tokens", " 5"), ("--temperature", "nan"),
                        ("--top-p", "1e999"), ("--max-new-tokens", "99999999999999999999")):
        rc, _, err = run(["vqa", "--model", MODEL, "--image", IMG("gray8_70x70.png"), "--question", "q", flag, value])
        assert rc == 2 and flag in err, (flag, value, rc, err)
    assert run(["ground", "--model", MODEL, "--image", IMG("gray8_70x70.png")])[0] == 2
    rc, _, err = run(["identify", "--model", MODEL, "--image", IMG("gray8_70x70.png"), "--box", "1,2,3"])
    assert rc == 2 and "--box" in err


@case
def unreadable_inputs_and_model_errors():
    rc, _, err = run(["report", "--model", MODEL, "--image", "/no/such.png"])
    assert rc == 3 and "/no/such.png" in err
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(b"\x89PNG\r\n\x1a\nbroken")
        f.flush()
        rc, _, err = run(["report", "--model", MODEL, "--image", f.name])
        assert rc == 3 and f.name in err
    rc, _, err = run(["report", "--model", "/no/model", "--image", IMG("gray8_70x70.png")])
    assert rc == 4 and "/no/model" in err


@case
def info_json():
    rc, out, _ = run(["info", "--model", MODEL, "--json", "--dtype", "fp32"])
    assert rc == 0
    j = json.loads(out)
    assert j["visual_tokens_per_image"] == MAN["dims"]["num_visual_tokens_per_image"]
    assert j["text"]["hidden"] == MAN["dims"]["lm"]["hidden_size"]
    assert j["dtype"] == "float32"
    rc, out, err = run(["info", "--model", MODEL, "--json", "--dtype", "int8"])
    assert rc == 0, err
    j8 = json.loads(out)
    assert j8["dtype"] == "int8" and j8["weight_bytes"] < j["weight_bytes"] / 2
    rc, _, err = run(["info", "--model", MODEL, "--dtype", "int4"])
    assert rc == 2 and "--dtype" in err, err


def task_json(args):
    rc, out, err = run(args + ["--model", MODEL, "--json", "--dtype", "fp32", "--max-new-tokens", "6"])
    assert rc == 0, err
    j = json.loads(out)
    for key in ["task", "text", "findings", "boxes", "turns", "stats", "replay", "images"]:
        assert key in j, key
    for key in ["prompt_tokens", "generated_tokens", "prefill_ms", "decode_ms", "image_encode_ms"]:
        assert key in j["stats"], key
    assert j["replay"]["options"]["max_new_tokens"] == 6
    assert len(j["replay"]["image_hashes"][0]) == 64
    return j


@case
def large_pages_setting_from_the_environment():
    # The library reads M4CXR_LARGE_PAGES once per process: each value gets its own run.
    rc, out, err = run(["info", "--model", MODEL, "--json"], env={"M4CXR_LARGE_PAGES": "all"})
    assert rc == 0, err
    copied = json.loads(out)
    rc, out, err = run(["info", "--model", MODEL, "--json"], env={"M4CXR_LARGE_PAGES": "0"})
    assert rc == 0, err
    assert json.loads(out)["weight_bytes"] == copied["weight_bytes"]
    rc, _, err = run(["info", "--model", MODEL], env={"M4CXR_LARGE_PAGES": "yes"})
    assert rc != 0 and "M4CXR_LARGE_PAGES is 'yes'" in err, (rc, err)


@case
def every_subcommand_json():
    im = IMG("rgb_150x200.jpg")
    j = task_json(["report", "--image", im])
    assert len(j["turns"]) == 2 and j["text"] == j["turns"][1]["text"]
    assert j["turns"][1]["prefilled_tokens"] < j["turns"][1]["prompt_tokens"]
    j = task_json(["report", "--prior-image", IMG("gray8_70x70.png"), "--prior-report", "Heart size is normal.", "--image", im])
    assert "prior radiology report: Heart size is normal." in j["turns"][0]["user"]
    j = task_json(["classify", "--image", im, "--labels", "Edema,Cardiomegaly"])
    assert j["turns"][0]["user"].endswith("Findings: edema, cardiomegaly")
    for flag, val, needle in [("--finding", "nodule", "Is nodule present"), ("--phrase", "left effusion", "describes: left effusion"),
                              ("--organ", "lung", "coordinates of lung"), ("--region", "trachea", "anatomical region. trachea"),
                              ("--findings", "edema,nodule", "Findings: edema, nodule")]:
        j = task_json(["ground", "--image", im, flag, val])
        assert needle in j["turns"][0]["user"], (flag, j["turns"][0]["user"])
    j = task_json(["detect", "--image", im])
    assert "abnormal regions" in j["turns"][0]["user"]
    j = task_json(["identify", "--image", im, "--box", "30,40,120,160", "--what", "region"])
    assert j["turns"][0]["user"].endswith("anatomical region name for this region. [20,10,80,90]")
    j = task_json(["vqa", "--image", im, "--question", "Is there edema?"])
    assert j["turns"][0]["user"].endswith("Answer the question. Is there edema?")
    j = task_json(["vqa", "--image", im, "--reference", IMG("gray8_70x70.png"), "--question", "what changed?"])
    assert "reference: <image>, main: <image>" in j["turns"][0]["user"]


@case
def json_matches_golden_generation():
    c = MAN["prompts_merged_fp32"]["single"]
    prefix = "radiology image: <image> "
    text = c["user_prompt"][len(prefix):]
    rc, out, err = run(["chat", "--model", MODEL, "--dtype", "fp32", "--json", "--image", IMG(c["images"][0]),
                        "--max-new-tokens", str(MAN["generation"]["max_new_tokens"])], stdin=text + "\n/quit\n")
    assert rc == 0, err
    j = json.loads(out)
    assert j["text"] == c["generated_text"]
    assert j["turns"][0]["generated_ids"] == c["generated_ids"]
    assert j["turns"][0]["prompt_ids"] == np.load(os.path.join(GOLDEN, c["input_ids"])).tolist()


@case
def constrained_answers_parse():
    """Issue 14: with --constrained, grounding and classification answers are in upstream's
    format (the random test model writes anything otherwise) and the JSON carries what they
    say; the replay record notes the option."""
    import re
    box = r"\[(100|[1-9]?[0-9]),(100|[1-9]?[0-9]),(100|[1-9]?[0-9]),(100|[1-9]?[0-9])\]"
    for name in ("gray8_70x70.png", "rgb_640x512.png"):
        im = IMG(name)
        rc, out, err = run(["ground", "--finding", "edema", "--image", im, "--model", MODEL, "--json", "--constrained",
                            "--max-new-tokens", "40"])
        assert rc == 0, err
        doc = json.loads(out)
        assert re.fullmatch(r"Yes\. " + box + "(, " + box + r")*\.|Not present\.", doc["text"]), doc["text"]
        assert len(doc["boxes"]) == doc["text"].count("[")
        assert doc["replay"]["options"]["constrained"] is True
        rc, out, err = run(["classify", "--labels", "edema,nodule", "--image", im, "--model", MODEL, "--json",
                            "--constrained", "--max-new-tokens", "40"])
        assert rc == 0, err
        doc = json.loads(out)
        assert re.fullmatch(r"(edema|nodule)(, nodule)?\.|Not found\.", doc["text"]), doc["text"]
    rc, _, err = run(["ground", "--finding", "edema", "--image", im, "--model", MODEL, "--constrained",
                      "--max-new-tokens", "4"])
    assert rc == 2 and "max_new_tokens of at least" in err, (rc, err)


@case
def label_scores_in_json_and_text():
    """Issue 14: --json carries a score for every candidate label (in the question's
    order) and each box's probability; the text output lists the scores."""
    im = IMG("gray8_70x70.png")
    rc, out, err = run(["classify", "--labels", "edema,nodule,pleural effusion", "--image", im, "--model", MODEL,
                        "--json", "--constrained", "--max-new-tokens", "40"])
    assert rc == 0, err
    doc = json.loads(out)
    assert list(doc["label_scores"]) == ["edema", "nodule", "pleural effusion"]
    assert all(0 <= v <= 1 for v in doc["label_scores"].values())
    assert [k for k, w in doc["label_written"].items() if w] == doc["findings"]
    rc, out, err = run(["classify", "--labels", "edema,nodule", "--image", im, "--model", MODEL,
                        "--constrained", "--max-new-tokens", "40"])
    assert rc == 0, err
    line = [l for l in out.splitlines() if l.startswith("scores:")]
    assert len(line) == 1 and "edema" in line[0] and "nodule" in line[0], out
    rc, out, err = run(["detect", "--image", im, "--model", MODEL, "--json", "--constrained", "--max-new-tokens", "40"])
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["boxes"] and all(0 < b["probability"] <= 1 for b in doc["boxes"])
    assert "label_scores" not in doc


@case
def logprobs_in_json_per_turn():
    """Issue 14: --logprobs K records every generated token's log-probability and K
    alternatives per turn; without it the JSON has no token lists; the text is the same."""
    im = IMG("rgb_150x200.jpg")
    base = ["report", "--image", im, "--model", MODEL, "--json", "--dtype", "fp32", "--max-new-tokens", "5"]
    rc, out, err = run(base)
    assert rc == 0, err
    off = json.loads(out)
    rc, out, err = run(base + ["--logprobs", "3"])
    assert rc == 0, err
    on = json.loads(out)
    assert on["text"] == off["text"]
    assert on["replay"]["options"]["top_logprobs"] == 3 and "logprobs" not in off["replay"]["options"]
    for t_off, t_on in zip(off["turns"], on["turns"]):
        assert "tokens" not in t_off
        assert t_on["generated_ids"] == t_off["generated_ids"]
        assert [t["id"] for t in t_on["tokens"]] == t_on["generated_ids"]
        for t in t_on["tokens"]:
            assert t["logprob"] <= 0 and isinstance(t["text"], str) and len(t["top"]) == 3
            assert t["top"][0]["logprob"] == t["logprob"]  # greedy: the argmax
            assert [a["logprob"] for a in t["top"]] == sorted((a["logprob"] for a in t["top"]), reverse=True)
    rc, out, err = run(["vqa", "--image", im, "--question", "q", "--model", MODEL, "--json", "--logprobs", "0",
                        "--max-new-tokens", "2"])
    assert rc == 0, err
    assert all(t["top"] == [] for t in json.loads(out)["turns"][0]["tokens"])
    for bad in ["-1", "101", "x"]:
        rc, _, err = run(["vqa", "--image", im, "--question", "q", "--model", MODEL, "--logprobs", bad])
        assert rc == 2 and "--logprobs" in err, (bad, err)


@case
def streaming_output_equals_text():
    im = IMG("gray8_73x101.png")
    rc, streamed, _ = run(["vqa", "--model", MODEL, "--dtype", "fp32", "--image", im, "--question", "Is it normal?", "--max-new-tokens", "10"])
    assert rc == 0
    rc2, plain, _ = run(["vqa", "--model", MODEL, "--dtype", "fp32", "--image", im, "--question", "Is it normal?", "--max-new-tokens", "10", "--no-stream"])
    assert rc2 == 0 and streamed == plain and len(streamed.strip()) > 0
    j = task_json(["vqa", "--image", im, "--question", "Is it normal?"])
    assert j["text"]


@case
def draw_writes_a_png_with_the_box():
    im = IMG("rgb_150x200.jpg")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "boxes.png")
        rc, _, err = run(["identify", "--model", MODEL, "--image", im, "--box", "30,40,120,160", "--draw", out, "--max-new-tokens", "3"])
        assert rc == 0, err
        drawn = read_png(out)
        ref = np.load(os.path.join(GOLDEN, MAN["images"]["rgb_150x200.jpg"]["decoded_rgb"]))
        assert drawn.shape == ref.shape  # the input's size (H, W, 3)
        changed = np.any(np.abs(drawn.astype(int) - ref.astype(int)) > 3, axis=2)
        assert changed[40, 30:121].all() and changed[160, 30:121].all()  # the box outline
        assert changed[34:39, 30:60].any()                                 # the label above the box
        assert not changed[:33, :].any() and not changed[165:, :].any()   # nothing else


@case
def trace_files_match_golden_stages():
    c = MAN["prompts_merged_fp32"]["single"]
    name = c["images"][0]
    with tempfile.TemporaryDirectory() as d:
        rc, _, err = run(["trace", "--model", MODEL, "--dtype", "fp32", "--image", IMG(name), "--prompt", c["user_prompt"], "--out", d])
        assert rc == 0, err
        L = lambda f: np.load(os.path.join(d, f + ".npy"))  # noqa: E731
        G = lambda rel: np.load(os.path.join(GOLDEN, rel))  # noqa: E731
        st = MAN["stages_merged_fp32"][name]
        assert np.array_equal(L("pixel_values")[0], G(MAN["images"][name]["pixel_values"]))
        assert np.allclose(L("vision_hidden_states")[0], G(st["vision_hidden_states"]), atol=1e-4, rtol=1e-4)
        assert np.allclose(L("projector_input")[0], G(st["projector_input"]), atol=1e-4, rtol=1e-4)
        assert np.allclose(L("abstractor_output")[0], G(st["abstractor_output"]), atol=1e-4, rtol=1e-4)
        assert L("prompt_ids").tolist() == G(c["input_ids"]).tolist()
        assert np.allclose(L("inputs_embeds"), G(c["inputs_embeds"]), atol=1e-5)
        assert np.allclose(L("logits"), G(c["logits"]), atol=1e-3)
    assert run(["trace", "--model", MODEL, "--image", IMG(name), "--out", "/tmp"])[0] == 2  # no prompt


@case
def chat_transcript():
    im = IMG("gray8_70x70.png")
    script = "\n".join([
        "/report",
        "Provide the bounding box coordinate of the region this phrase describes: left pleural effusion",
        "/bogus",
        "/quit",
        "never sent",
    ]) + "\n"
    rc, out, err = run(["chat", "--model", MODEL, "--dtype", "fp32", "--image", im, "--max-new-tokens", "8", "--json"], stdin=script)
    assert rc == 0, err
    docs = []
    dec = json.JSONDecoder()
    pos = 0
    while pos < len(out):
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            break
        obj, pos = dec.raw_decode(out, pos)
        docs.append(obj)
    assert len(docs) == 2, len(docs)                       # report, grounding question; /quit stops
    assert docs[0]["task"] == "report" and len(docs[0]["turns"]) == 2
    q = docs[1]["turns"][0]
    assert q["user"] == "Provide the bounding box coordinate of the region this phrase describes: left pleural effusion"
    prev = docs[0]["turns"][1]["prompt_ids"] + docs[0]["turns"][1]["generated_ids"]
    assert q["prompt_ids"][:len(prev)] == prev             # the question continues the report's conversation
    assert "commands:" in err                              # /bogus explained, chat went on


@case
def commands_come_from_the_task_table():
    # Every task of the table is reachable: listed in --help, with a help page naming it.
    rc, out, _ = run(["--help"])
    table = json.load(open(TABLE))
    for t in table["tasks"]:
        cmd = t["cli"]["command"]
        assert f"  {cmd} " in out, cmd
        rc, page, _ = run([cmd, "--help"])
        assert rc == 0 and t["name"] in page and all(a["cli"] in page for a in t["args"]), (cmd, t["name"])
    im = IMG("rgb_150x200.jpg")
    j = task_json(["ask", "--image", im, "--text", "What is the view?"])
    assert j["task"] == "chat" and j["turns"][0]["user"].endswith("radiology image: <image> What is the view?")
    j = task_json(["report", "--image", im, "--plural-wording"])
    assert "radiology images: <image> Which of the following findings are present in the radiology images?" in j["turns"][0]["user"]
    rc, _, err = run(["vqa", "--model", MODEL, "--image", im])       # no task of the command fits
    assert rc == 2 and "--question" in err, err
    rc, _, err = run(["vqa", "--model", MODEL, "--image", im, "--question", "q", "--finding", "x"])
    assert rc == 2, err                                               # an option of another task


@case
def refuses_what_it_would_silently_change():
    im = IMG("rgb_150x200.jpg")
    # Conflicting or ignored options are usage errors, not a silently chosen task.
    for args in (["ground", "--image", im, "--finding", "a", "--phrase", "b", "--organ", "c"],
                 ["report", "--image", im, "--prior-report", "Heart size is normal."],
                 ["classify", "--image", im, "--labels", ",,,"]):
        rc, _, err = run(args + ["--model", MODEL])
        assert rc == 2, (args, rc, err)
    # A mistyped report file is refused, not sent as the report text.
    rc, _, err = run(["report", "--model", MODEL, "--prior-image", im, "--prior-report", "prior.txtt", "--image", im])
    assert rc == 3 and "prior.txtt" in err, (rc, err)
    # An unsupported image format is an input error (3), like a corrupt one.
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, "study.dcm")
        with open(fake, "wb") as f:
            f.write(b"\0" * 128 + b"DICM" + b"\0" * 64)
        rc, _, err = run(["vqa", "--model", MODEL, "--image", fake, "--question", "q"])
        assert rc == 3, (rc, err)
        # trace creates its folder without a shell: quotes and dashes are plain names.
        for name in ["o'brien", "-v"]:
            out = os.path.join(d, name) if name != "-v" else "-v"
            rc, _, err = run(["trace", "--model", MODEL, "--image", im, "--prompt", "radiology image: <image> Hi",
                              "--out", out], )
            assert rc == 0 and os.path.isdir(out), (name, rc, err)
            if name == "-v":
                import shutil
                shutil.rmtree(out)
    # --threads beyond the machine is clamped, with a note.
    rc, _, err = run(["info", "--model", MODEL, "--threads", "100000"])
    assert rc == 0 and "more than the" in err, err


@case
def version_equals_forms_and_compact_json():
    rc, out, _ = run(["--version"])
    assert rc == 0 and out.startswith("m4cxr 0.") and "C ABI" in out, out
    im = IMG("rgb_150x200.jpg")
    rc, out, err = run(["vqa", "--model=" + MODEL, "--image=" + im, "--question=Is there edema?", "--json",
                        "--dtype=fp32", "--max-new-tokens=2"])
    assert rc == 0, err
    assert out.count("\n") == 1 and json.loads(out)["turns"][0]["user"].endswith("Is there edema?")
    rc, out, err = run(["vqa", "--model", MODEL, "--image", im, "--question", "q", "--json-pretty", "--dtype", "fp32",
                        "--max-new-tokens", "2"])
    assert rc == 0 and out.count("\n") > 10 and json.loads(out)["task"] == "vqa", err


@case
def draw_writes_the_format_its_extension_names():
    im = IMG("rgb_150x200.jpg")
    with tempfile.TemporaryDirectory() as d:
        for ext, magic in [(".jpg", b"\xff\xd8"), (".bmp", b"BM"), (".png", b"\x89PNG")]:
            out = os.path.join(d, "boxes" + ext)
            rc, _, err = run(["detect", "--model", MODEL, "--image", im, "--draw", out, "--max-new-tokens", "2"])
            assert rc == 0, err
            assert open(out, "rb").read(len(magic)) == magic, ext
            assert "no box was found" in err  # 2 random tokens hold no box
        rc, _, err = run(["detect", "--model", MODEL, "--image", im, "--draw", os.path.join(d, "b.tiff"),
                          "--max-new-tokens", "2"])
        assert rc == 2 and ".png, .jpg or .bmp" in err, err


@case
def ctrl_c_in_chat_stops_the_answer_not_the_program():
    import select
    import signal
    import time
    p = subprocess.Popen([CLI, "chat", "--model", MODEL, "--image", IMG("rgb_150x200.jpg"), "--max-new-tokens", "30000"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"Describe the image.\n")
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 120)  # the answer is streaming
        assert ready, "no answer began"
        os.read(p.stdout.fileno(), 1)
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert p.poll() is None, "Ctrl-C ended the program"
        _, err = p.communicate(b"/quit\n", timeout=120)
        assert p.returncode == 0 and b"answer stopped" in err, (p.returncode, err[-300:])
    finally:
        if p.poll() is None:
            p.kill()


finish()
