"""Every task of the C API through the binding: results equal the C library's own."""

import pytest

import capi_ref
import m4cxr
from conftest import MODEL_DIR, image_path

SYS = ("The following is a conversation between a curious human and an AI medical assistant. The assistant gives "
       "helpful, detailed, and polite answers to the user's questions. ")


def test_report_equals_the_c_api(model):
    path = image_path("gray8_73x101.png")
    ref = capi_ref.report(str(MODEL_DIR), path, 12)
    with model.session() as s:
        stream = s.report(model.image(path), stream=True, max_new_tokens=12)
        pieces = ["", ""]
        for p in stream:
            pieces[p.turn] += p
        r = stream.result()
    assert isinstance(r, m4cxr.Result) and len(r.turns) == 2
    assert r.text == ref["text"] == r.turns[1]
    assert list(r.turns) == ref["turns"] == ref["pieces"] == pieces
    assert list(r.findings) == ref["findings"]
    mine = r.to_dict()
    for k in range(2):
        assert mine["turns"][k]["generated_ids"] == ref["json"]["turns"][k]["generated_ids"]
        assert mine["turns"][k]["prompt_ids"] == ref["json"]["turns"][k]["prompt_ids"]
    assert mine["replay"]["options"]["max_new_tokens"] == 12
    assert mine["stats"]["generated_tokens"] == r.stats.generated_tokens == sum(
        len(t["generated_ids"]) for t in mine["turns"])
    assert not r.cancelled and r.stats.image_encode_ms > 0


def test_free_turn_reproduces_the_upstream_golden(model, manifest):
    case = manifest["prompts_merged_fp32"]["single"]
    prefix = "radiology image: <image> "
    assert case["user_prompt"].startswith(prefix)
    with model.session() as s:
        r = s.chat(case["user_prompt"][len(prefix):], [image_path(case["images"][0])],
                   max_new_tokens=manifest["generation"]["max_new_tokens"])
    assert r.text == case["generated_text"]
    assert r.to_dict()["turns"][0]["generated_ids"] == case["generated_ids"]


def first_user(r):
    return r.to_dict()["turns"][0]["user"]


def test_every_task_builds_its_prompt(model, image):
    other = model.image(image_path("gray8_70x70.png"))
    f13 = ("enlarged cardiomediastinum, cardiomegaly, lung opacity, lung lesion, edema, consolidation, pneumonia, "
           "atelectasis, pneumothorax, pleural effusion, pleural other, fracture, support devices")
    cases = {
        "report": (lambda s: s.report([image, other]), "Which of the following findings are present in the "
                   "radiology images? Findings: " + f13),
        "report single": (lambda s: s.report(image), "radiology image: <image> Which of the following findings are "
                          "present in the radiology image? Findings: " + f13),
        "report plural": (lambda s: s.report(image, True), "radiology images: <image> Which of the following "
                          "findings are present in the radiology images? Findings: " + f13),
        "classify": (lambda s: s.classify(image, ["Atelectasis", "Cardiomegaly"]), "Findings: atelectasis, cardiomegaly"),
        "classify13": (lambda s: s.classify(image), "Findings: " + f13),
        "finding": (lambda s: s.ground_finding(image, "Nodule"), "Is nodule present in the radiology image?"),
        "findings": (lambda s: s.ground_findings(image, ["Atelectasis", "Cardiomegaly"]),
                     "Provide the bounding box coordinates if present. Findings: atelectasis, cardiomegaly"),
        "detect": (lambda s: s.detect_abnormalities(image), "abnormal regions"),
        "organ": (lambda s: s.ground_organ(image, "heart"), "coordinates of heart in"),
        "organ default": (lambda s: s.ground_organ(image), "coordinates of lung in"),
        "phrase": (lambda s: s.ground_phrase(image, "Small left apical pneumothorax"),
                   "this phrase describes: Small left apical pneumothorax"),
        "region": (lambda s: s.ground_region(image, "right lung"), "anatomical region. right lung"),
        # 150x200 portrait: S = 150, crop offset 25 on y: (30,40,120,160) -> [20,10,80,90]
        "name finding": (lambda s: s.identify_region(image, "finding", (30, 40, 120, 160)),
                         "Provide a finding name for this region. [20,10,80,90]"),
        "name organ": (lambda s: s.identify_region(image, m4cxr.BoxQuestion.ORGAN, [(30, 40, 120, 160)]),
                       "Provide an organ name for this region. [20,10,80,90]"),
        "name region": (lambda s: s.identify_region(image, "region", [30, 40, 120, 160]), "[20,10,80,90]"),
        "name phrase": (lambda s: s.identify_region(image, 3, [(30, 40, 120, 160), (0, 25, 150, 175)]),
                        "[20,10,80,90], [0,0,100,100]"),
        "vqa": (lambda s: s.vqa(image, "Is there pleural effusion?"), "Answer the question. Is there pleural effusion?"),
        "difference": (lambda s: s.difference_vqa(image, other, "what has changed?"),
                       "reference: <image>, main: <image> Using the provided reference and main radiology images"),
        "chat": (lambda s: s.chat("Describe.", image), "radiology image: <image> Describe."),
    }
    for name, (run, want) in cases.items():
        with model.session() as s:
            r = run(_Gen(s, max_new_tokens=3))
        assert want in first_user(r), name
        assert first_user(r).startswith(SYS), name
        assert 1 <= r.stats.generated_tokens <= 3 * len(r.turns), name


def test_report_followup_builds_its_prompt(model, image):
    other = model.image(image_path("gray8_70x70.png"))
    with model.session() as s:
        r = s.report_followup(image, "Heart size is normal.", [other], max_new_tokens=3)
    assert "prior radiology report: Heart size is normal." in first_user(r)
    assert "follow-up images: <image>" in first_user(r) and first_user(r).startswith(SYS)


class _Gen:
    """Adds generation keywords to every task call of a session."""

    def __init__(self, session, **gen):
        self._s, self._gen = session, gen

    def __getattr__(self, name):
        return lambda *a, **k: getattr(self._s, name)(*a, **{**self._gen, **k})


def test_grounding_boxes_are_in_pixels(model, image):
    with model.session() as s:
        r = s.ground_organ(image, "lung", max_new_tokens=24)
    assert r.to_dict()["boxes"] == [{"label": b.label, "model": list(b.model), "pixels": list(b.pixels),
                                     "image_index": b.image_index, "probability": b.probability} for b in r.boxes]
    for b in r.boxes:  # random weights rarely print a box: checked whenever one comes out
        assert b.pixels == pytest.approx(image.to_pixel_box(b.model))
    # the conversion of C boxes into Box values
    fake = {"text": "", "turns": [], "findings": [], "json": "{}", "stats": vars(r.stats),
            "boxes": [("lung", [20, 10, 80, 90], list(image.to_pixel_box((20, 10, 80, 90))), 0, 0.25)]}
    box = m4cxr.Result._from(fake).boxes[0]
    assert box == m4cxr.Box("lung", (20, 10, 80, 90), image.to_pixel_box((20, 10, 80, 90)), 0, 0.25)
    assert image.to_model_box(box.pixels) == box.model


def test_vqa_and_conversation(model, image):
    with model.session() as s:
        a = s.vqa(image, "Is there pleural effusion?", max_new_tokens=6)
        assert isinstance(a.text, str) and a.turns == (a.text,) and not a.boxes
        # continues the conversation when asked to (by default a task with images starts a new one)
        b = s.ground_phrase(image, "left pleural effusion", max_new_tokens=4, continue_conversation=True)
        assert first_user(b) == "Provide the bounding box coordinate of the region this phrase describes: " \
                                "left pleural effusion"
        s.reset()
        c = s.vqa(image, "Is there pleural effusion?", max_new_tokens=6)
    assert c.text == a.text and c.to_dict()["turns"] == a.to_dict()["turns"]


def test_sampling_is_reproducible_with_a_seed(session, image):
    kw = dict(max_new_tokens=8, do_sample=True, temperature=1.5, top_k=0, top_p=0.95, seed=11)
    a = session.vqa(image, "Is there pleural effusion?", **kw)
    session.reset()
    b = session.vqa(image, "Is there pleural effusion?", **kw)
    assert a.text == b.text and a.to_dict()["replay"]["options"]["seed"] == 11


def test_bad_task_arguments(session, image):
    with pytest.raises(m4cxr.InvalidArgumentError) as e:
        session.vqa(image, "ok?", max_new_tokens=0)
    assert "max_new_tokens" in str(e.value)
    with pytest.raises(ValueError, match="image"):
        session.vqa(image, "sneaky <image> injection")
    with pytest.raises(m4cxr.InvalidArgumentError):
        session.chat("")
    with pytest.raises(m4cxr.InvalidArgumentError):
        session.report([image] * 6)
    with pytest.raises(m4cxr.InvalidArgumentError):
        session.identify_region(image, "finding", (10, 10, 5, 5))
    with pytest.raises(m4cxr.InvalidArgumentError):
        session.vqa(image, "ok?", do_sample=True, temperature=0.0)
    with pytest.raises(TypeError, match="max_tokens"):
        session.vqa(image, "ok?", max_tokens=3)
    with pytest.raises(m4cxr.InvalidArgumentError, match="lesion"):
        session.identify_region(image, "lesion", (1, 1, 2, 2))
    assert session.vqa(image, "ok?", max_new_tokens=2).stats.generated_tokens == 2  # still usable


def test_a_nul_character_is_refused_not_cut(model, image):
    with model.session() as s:
        with pytest.raises(m4cxr.InvalidArgumentError, match="NUL"):
            s.vqa(image, "is there a\x00 pneumothorax?", max_new_tokens=1)
        with pytest.raises(m4cxr.InvalidArgumentError, match="NUL"):
            s.append_turn("What?\x00", "Yes.")
        assert s.vqa(image, "is there a pneumothorax?", max_new_tokens=1).turns  # the session is fine


def test_an_interrupted_call_releases_the_session(model, image):
    """Ctrl-C during a non-streaming call, with the traceback kept (as a notebook does),
    must not leave the session busy; cancel() recovers a kept, unfinished stream."""
    import _thread
    import threading

    with model.session() as s:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        kept = None
        try:
            s.vqa(image, "Is there edema?", max_new_tokens=20000)
        except KeyboardInterrupt as e:
            kept = e  # the traceback keeps the call's frame alive
        finally:
            timer.cancel()
        assert kept is not None, "the call ended before the interrupt"
        assert s.vqa(image, "Is there edema?", max_new_tokens=1).turns  # not BusyError
        stream = s.vqa(image, "Is there edema?", max_new_tokens=50, stream=True)
        next(iter(stream))
        s.cancel()  # the kept stream's task is stopped; reset then goes through
        s.reset()
        assert s.vqa(image, "Is there edema?", max_new_tokens=1).turns
        stream2 = s.vqa(image, "Is there edema?", max_new_tokens=50, stream=True)
        next(iter(stream2))
        s.cancel()
        assert s.vqa(image, "Is there edema?", max_new_tokens=1).turns
        del stream, stream2


def test_ctrl_c_cancels_within_a_layer_not_at_the_next_token(model, image):
    """SIGINT while a call waits for a slow token raises KeyboardInterrupt within one
    (simulated) layer, as the C cancel does, not when the token arrives; the session then
    runs the next task. Every layer sleeps 2 s (m4cxr_debug_set_layer_delay_ms), so the
    first token of a fresh image needs well over 3 s."""
    import os
    import signal
    import threading
    import time

    from m4cxr import _m4cxr

    def interrupted_after(call):
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                call()
            return time.monotonic() - start - 0.3
        finally:
            timer.cancel()

    with model.session() as s:
        _m4cxr.debug_set_layer_delay_ms(2000)
        try:
            late = interrupted_after(lambda: s.report(image, max_new_tokens=5))  # non-streaming
            stream = s.vqa(image, "Is there edema?", max_new_tokens=5, stream=True)
            late_streaming = interrupted_after(lambda: next(iter(stream)))
        finally:
            _m4cxr.debug_set_layer_delay_ms(0)
        assert late < 0.5, f"KeyboardInterrupt came {late:.2f} s after SIGINT"
        assert late_streaming < 0.5, f"KeyboardInterrupt came {late_streaming:.2f} s after SIGINT"
        assert stream.result().cancelled  # the interrupted stream's task was cancelled
        r = s.vqa(image, "Is there edema?", max_new_tokens=2)  # not BusyError
        assert r.stats.generated_tokens == 2 and not r.cancelled


def test_a_bare_string_for_a_list_of_names_is_one_name(model, image):
    """`labels="edema"` is the label "edema", not the letters e, d, e, m, a."""
    with model.session() as s:
        r = s.classify(image, labels="Edema", max_new_tokens=1)
        assert r.turns and "Findings: edema" in _user(r)
        r = s.ground_findings(image, "edema", max_new_tokens=1)
        assert _user(r).endswith("Findings: edema")


def _user(result):
    import json
    return json.loads(result.json)["turns"][0]["user"]


def test_results_print_short_and_flatten_to_records(model, image):
    import json
    with model.session() as s:
        r = s.report(image, max_new_tokens=30)
    assert len(repr(r)) < 400 and repr(r).startswith("Result(text=")  # not the 10 KB JSON
    rec = r.to_record()
    assert rec["task"] == "report" and rec["text"] == r.text
    assert all(isinstance(v, (str, int, float, bool)) for v in rec.values())
    assert rec["generated_tokens"] == r.stats.generated_tokens
    assert json.loads(json.dumps(rec)) == rec
    assert r.to_dict()["task"] == "report"


def test_logprobs_are_opt_in_per_turn_and_change_no_output(model):
    """Issue 14: logprobs=K records each generated token's log-probability and its K most
    likely alternatives per turn; the generated tokens are the same as without it."""
    path = image_path("gray8_73x101.png")
    with model.session() as s:
        off = s.report(path, max_new_tokens=6)
        on = s.report(path, max_new_tokens=6, logprobs=3)
        none = s.vqa(path, "Is there edema?", max_new_tokens=2, logprobs=None)  # None = off
    assert off.tokens == () and none.tokens == ()
    assert "tokens" not in off.to_dict()["turns"][0]
    assert on.text == off.text and on.turns == off.turns
    assert len(on.tokens) == 2
    doc = on.to_dict()
    for k, turn in enumerate(on.tokens):
        assert [t.id for t in turn] == doc["turns"][k]["generated_ids"] == off.to_dict()["turns"][k]["generated_ids"]
        for t, jt in zip(turn, doc["turns"][k]["tokens"]):
            assert isinstance(t, m4cxr.Token) and isinstance(t.text, str) and t.text == jt["text"]
            assert t.logprob <= 0 and t.logprob == jt["logprob"]
            assert len(t.top) == 3 and all(isinstance(a, m4cxr.TokenAlternative) for a in t.top)
            assert t.top[0].logprob == t.logprob  # greedy: the argmax
            assert [a.logprob for a in t.top] == sorted((a.logprob for a in t.top), reverse=True)
    assert "tokens=[" in repr(on)
    assert "task" in on.to_record()
    with model.session() as s:
        with pytest.raises(m4cxr.InvalidArgumentError, match="top_logprobs"):
            s.vqa(path, "Is there edema?", max_new_tokens=2, logprobs=101)
        zero = s.vqa(path, "Is there edema?", max_new_tokens=2, logprobs=0)
    assert len(zero.tokens) == 1 and all(t.top == () for t in zero.tokens[0])


def test_constrained_answers_always_parse(model):
    """Issue 14: constrained=True keeps answers with a fixed shape in upstream's format (the
    random test model writes anything otherwise), so boxes and findings always parse."""
    import re
    box = r"\[(100|[1-9]?[0-9]),(100|[1-9]?[0-9]),(100|[1-9]?[0-9]),(100|[1-9]?[0-9])\]"
    boxes = box + r"(, " + box + r")*"
    labels = ["edema", "nodule", "pleural effusion"]
    names = "(" + "|".join(labels) + ")"
    with model.session() as s:
        for name in ("gray8_70x70.png", "rgb_150x200.jpg", "gray16_200x150.png"):
            path = image_path(name)
            r = s.ground_finding(path, "edema", constrained=True, max_new_tokens=40)
            assert re.fullmatch(r"Yes\. " + boxes + r"\.|Not present\.", r.text), r.text
            assert len(r.boxes) == r.text.count("[")
            r = s.detect_abnormalities(path, constrained=True, max_new_tokens=40)
            assert re.fullmatch(boxes + r"\.", r.text) and len(r.boxes) == r.text.count("["), r.text
            r = s.classify(path, labels=labels, constrained=True, max_new_tokens=40)
            assert re.fullmatch(names + "(, " + names + r")*\.|Not found\.", r.text), r.text
            assert len(r.findings) == (0 if r.text == "Not found." else r.text.count(",") + 1)
        # Free text is untouched, and the option is off by default.
        assert s.vqa(path, "Is there edema?", max_new_tokens=6, constrained=True).text == \
            s.vqa(path, "Is there edema?", max_new_tokens=6).text
        with pytest.raises(m4cxr.InvalidArgumentError, match="max_new_tokens of at least"):
            s.ground_finding(path, "edema", constrained=True, max_new_tokens=4)


def _token_spans(tokens):
    """Byte spans of the answer text each token wrote, from its piece (ASCII answers)."""
    spans, at = [], 0
    for k, t in enumerate(tokens):
        text = t.text
        if text in ("</s>", "<s>", "<unk>"):
            text = ""
        elif text.startswith("<0x") and text.endswith(">") and len(text) == 6:
            text = chr(int(text[3:5], 16))
        else:
            text = text.replace("\u2581", " ")
            if k == 0 and text.startswith(" "):
                text = text[1:]  # the first token loses the space of its piece
        spans.append((at, at + len(text.encode()), t.logprob))
        at += len(text.encode())
    return spans


def test_label_scores_and_box_probabilities(model):
    """Issue 14: every candidate of a classification / a report's findings turn gets a
    score in [0, 1], in the question's order; a written label's score is the probability of
    the tokens that wrote it (checked here from the result's own token log-probabilities);
    boxes carry the probability of their tokens; the JSON says the same."""
    import json
    import math
    labels = ["edema", "nodule", "pleural effusion"]
    with model.session() as s:
        for name in ("gray8_70x70.png", "rgb_150x200.jpg"):
            path = image_path(name)
            r = s.classify(path, labels=labels, constrained=True, max_new_tokens=40, logprobs=0)
            assert list(r.label_scores) == labels
            assert all(0.0 <= v <= 1.0 for v in r.label_scores.values())
            doc = json.loads(r.json)
            assert doc["label_scores"] == dict(r.label_scores)
            assert [k for k, w in doc["label_written"].items() if w] == list(r.findings)
            spans = _token_spans(r.tokens[0])
            for label in r.findings:
                begin = r.text.lower().find(label)
                end = begin + len(label)
                want = math.exp(sum(lp for b, e, lp in spans if e > b and e > begin and b < end))
                assert math.isclose(r.label_scores[label], want, rel_tol=1e-9), (r.text, label)
            with pytest.raises(TypeError):
                r.label_scores["edema"] = 1.0  # read-only
            d = s.detect_abnormalities(path, constrained=True, max_new_tokens=40)
            assert d.boxes and all(0.0 < b.probability <= 1.0 for b in d.boxes)
            assert [b["probability"] for b in json.loads(d.json)["boxes"]] == [b.probability for b in d.boxes]
            assert d.label_scores == {}
        report = s.report(image_path("gray8_70x70.png"), max_new_tokens=8)
        assert len(report.label_scores) == 13 and "cardiomegaly" in report.label_scores
        assert s.vqa(image_path("gray8_70x70.png"), "Is there edema?", max_new_tokens=3).label_scores == {}
