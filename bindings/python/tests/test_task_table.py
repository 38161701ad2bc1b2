"""The Session's task methods agree with the task table of the LOADED library
(m4cxr_task_table_json): one method per task, parameters in table order with the table's
names, optional ones defaulting to the table's defaults, then the keyword-only `stream`
flag (the streaming variant) and the generation options. Also: the generator makes a
method for a task added to the table, with no edit of the binding."""
import importlib.util
import inspect
import subprocess
import sys

import pytest

import m4cxr
from conftest import REPO

GENERATOR = REPO / "tools" / "gen_task_python.py"


def _same_default(arg, default):
    want = arg["default"]
    if isinstance(want, list):  # a list default is the immutable ()
        return isinstance(default, tuple) and list(default) == want
    return type(default) is type(want) and default == want


def problems(cls, table):
    """What in `cls` disagrees with `table` (empty: they agree)."""
    out = []
    for task in table["tasks"]:
        name = task["name"]
        method = getattr(cls, name, None)
        if not callable(method):
            out.append(f"{name}: no method")
            continue
        params = list(inspect.signature(method).parameters.values())
        if not params or params[0].name != "self":
            out.append(f"{name}: not a method")
            continue
        params = params[1:]
        positional = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        names = [p.name for p in positional]
        want = [a["name"] for a in task["args"]]
        if names != want:
            out.append(f"{name}: parameters {names}, table {want}")
            continue
        for p, a in zip(positional, task["args"]):
            if "default" in a:
                if p.default is p.empty or not _same_default(a, p.default):
                    out.append(f"{name}.{p.name}: default {p.default!r}, table {a['default']!r}")
            elif p.default is not p.empty:
                out.append(f"{name}.{p.name}: has a default, the table says it is required")
        keyword = {p.name: p for p in params if p.kind == p.KEYWORD_ONLY}
        if "stream" not in keyword or keyword["stream"].default is not False:
            out.append(f"{name}: no streaming variant (keyword-only stream=False)")
        elif not any(p.kind == p.VAR_KEYWORD for p in params):
            out.append(f"{name}: no generation options (**gen)")
        elif len(keyword) != 1 or len(params) != len(positional) + 2:
            out.append(f"{name}: unexpected parameters {[p.name for p in params]}")
    return out


def test_the_library_table_is_the_source_one():
    table = m4cxr.task_table()
    names = [t["name"] for t in table["tasks"]]
    assert {"report", "vqa", "identify_region", "chat"} <= set(names)
    report = next(t for t in table["tasks"] if t["name"] == "report")
    assert [a["name"] for a in report["args"]] == ["images", "plural_wording"]


def test_session_methods_agree_with_the_library_table():
    table = m4cxr.task_table()
    assert problems(m4cxr.Session, table) == []
    for task in table["tasks"]:  # documented from the table
        doc = " ".join(getattr(m4cxr.Session, task["name"]).__doc__.split())
        assert " ".join(task["doc"].split()) in doc


def test_the_check_fails_for_a_missing_or_disagreeing_method():
    table = m4cxr.task_table()

    class NoVqa(m4cxr.Session):
        vqa = None

    class Swapped(m4cxr.Session):
        def difference_vqa(self, main, reference, question, *, stream=False, **gen):
            pass

    class WrongDefault(m4cxr.Session):
        def ground_organ(self, image, organ="heart", *, stream=False, **gen):
            pass

    class RequiredMadeOptional(m4cxr.Session):
        def vqa(self, image, question="", *, stream=False, **gen):
            pass

    class NoStream(m4cxr.Session):
        def ground_phrase(self, image, phrase, **gen):
            pass

    class Extra(m4cxr.Session):
        def ground_region(self, image, region, *, stream=False, colour=None, **gen):
            pass

    assert problems(NoVqa, table) == ["vqa: no method"]
    assert problems(Swapped, table) == ["difference_vqa: parameters ['main', 'reference', 'question'], "
                                        "table ['reference', 'main', 'question']"]
    assert problems(WrongDefault, table) == ["ground_organ.organ: default 'heart', table 'lung'"]
    assert problems(RequiredMadeOptional, table) == [
        "vqa.question: has a default, the table says it is required"]
    assert problems(NoStream, table) == ["ground_phrase: no streaming variant (keyword-only stream=False)"]
    assert problems(Extra, table) == ["ground_region: unexpected parameters ['image', 'region', 'stream', "
                                      "'colour', 'gen']"]


def test_a_task_added_to_the_table_gets_its_method(tmp_path):
    """The generator alone: a new task in the table becomes a Session method."""
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        import task_table
    finally:
        sys.path.pop(0)
    table = task_table.load(REPO / "src" / "tasks" / "task_table.json")
    table["tasks"].append({
        "name": "measure_ctr", "output": "text", "conversation": "fresh", "cli": {"command": "ctr"},
        "doc": "Cardiothoracic ratio.",
        "args": [{"name": "image", "type": "image", "cli": "--image", "doc": "the image"},
                 {"name": "method", "type": "choice", "choices": ["pa", "ap"], "default": "pa", "cli": "--method",
                  "doc": "projection"},
                 {"name": "marks", "type": "boxes", "min": 0, "max": 2, "default": [], "cli": "--mark",
                  "doc": "marks"}]})
    src = tmp_path / "table.json"
    src.write_text(__import__("json").dumps(table))
    out = tmp_path / "_tasks.py"
    subprocess.run([sys.executable, str(GENERATOR), str(src), str(out)], check=True)
    spec = importlib.util.spec_from_file_location("generated_tasks", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert problems(mod.TaskMethods, table) == []
    sig = inspect.signature(mod.TaskMethods.measure_ctr)
    assert list(sig.parameters)[1:4] == ["image", "method", "marks"]
    assert sig.parameters["method"].default == "pa" and sig.parameters["marks"].default == ()
    assert mod.TASKS["measure_ctr"]["args"][1]["choices"] == ["pa", "ap"]

    calls = []

    class Fake(mod.TaskMethods):
        def _task(self, task, values, stream, gen):
            calls.append((task, values, stream, gen))

    Fake().measure_ctr("x.png", stream=True, max_new_tokens=3)
    assert calls == [("measure_ctr", ("x.png", "pa", ()), True, {"max_new_tokens": 3})]


def test_a_bad_table_fails_the_generator(tmp_path):
    bad = tmp_path / "table.json"
    bad.write_text('{"version": 1, "tasks": [{"name": "reset", "output": "text", "conversation": "fresh", '
                   '"cli": {}, "doc": "d", "args": []}]}')
    done = subprocess.run([sys.executable, str(GENERATOR), str(bad), str(tmp_path / "out.py")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "clashes" in done.stderr


@pytest.mark.parametrize("task", ["ground_organ", "classify", "chat", "report"])
def test_optional_arguments_take_the_table_default(model, image, task):
    """Leaving an optional argument out, passing its default, or None: the same prompt."""
    calls = {
        "ground_organ": [lambda s: s.ground_organ(image), lambda s: s.ground_organ(image, "lung"),
                         lambda s: s.ground_organ(image, None)],
        "classify": [lambda s: s.classify(image), lambda s: s.classify(image, []),
                     lambda s: s.classify(image, None)],
        "chat": [lambda s: s.chat("Describe."), lambda s: s.chat("Describe.", ()),
                 lambda s: s.chat("Describe.", None)],
        "report": [lambda s: s.report(image), lambda s: s.report(image, False),
                   lambda s: s.report(image, plural_wording=False)],
    }[task]
    prompts = []
    for call in calls:
        with model.session() as s:
            r = call(_Gen(s, max_new_tokens=1))
        prompts.append(r.to_dict()["turns"][0]["prompt_ids"])
    assert prompts[0] == prompts[1] == prompts[2]


class _Gen:
    def __init__(self, session, **gen):
        self._s, self._gen = session, gen

    def __getattr__(self, name):
        return lambda *a, **k: getattr(self._s, name)(*a, **{**self._gen, **k})
