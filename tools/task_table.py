"""Reads and checks src/tasks/task_table.json, the one description of the M4CXR tasks.

Every generator in tools/gen_task_*.py starts here, so a malformed table fails the build
with a message naming the task and argument. Standard library only (runs on
/usr/bin/python3 at build time).
"""
import json
import re

ARG_TYPES = ("image", "images", "text", "texts", "boxes", "choice", "flag")
LIST_TYPES = ("images", "texts", "boxes")
OUTPUTS = ("text", "report_cot", "findings", "boxes", "named_boxes")
CONVERSATIONS = ("fresh", "continue")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TableError(Exception):
    pass


def _fail(where, why):
    raise TableError(f"task_table.json: {where}: {why}")


def load(path):
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    check(table)
    return table


def check(table):
    names = set()
    for t in table.get("tasks", []):
        name = t.get("name", "")
        if not _NAME.match(name) or name in names:
            _fail(name or "?", "task names are unique lower_snake_case")
        names.add(name)
        for key in ("doc", "output", "conversation", "args", "cli"):
            if key not in t:
                _fail(name, f"missing '{key}'")
        if t["output"] not in OUTPUTS:
            _fail(name, f"output must be one of {OUTPUTS}")
        if t["conversation"] not in CONVERSATIONS:
            _fail(name, f"conversation must be one of {CONVERSATIONS}")
        seen_optional = False
        arg_names = set()
        for a in t["args"]:
            where = f"{name}.{a.get('name', '?')}"
            if not _NAME.match(a.get("name", "")) or a["name"] in arg_names:
                _fail(where, "argument names are unique lower_snake_case")
            arg_names.add(a["name"])
            if a.get("type") not in ARG_TYPES:
                _fail(where, f"type must be one of {ARG_TYPES}")
            if "doc" not in a or "cli" not in a:
                _fail(where, "needs 'doc' and 'cli'")
            optional = "default" in a
            if seen_optional and not optional:
                _fail(where, "a required argument follows an optional one (positional order)")
            seen_optional = seen_optional or optional
            if a["type"] in LIST_TYPES:
                if not (0 <= a.get("min", 1) <= a.get("max", 0)):
                    _fail(where, "list arguments need 0 <= min <= max")
                if optional and a["default"] != []:
                    _fail(where, "a list default must be []")
            if a["type"] == "choice" and not a.get("choices"):
                _fail(where, "a choice needs 'choices'")
            if a["type"] == "flag" and optional and not isinstance(a["default"], bool):
                _fail(where, "a flag default is true or false")
            if a["type"] in ("text", "choice") and optional and not isinstance(a["default"], str):
                _fail(where, "a text default is a string")
    return table


def is_optional(arg):
    return "default" in arg


def write_if_changed(path, text):
    """Writes `text` to `path` unless it already holds it (an unchanged output keeps its
    timestamp, so nothing downstream rebuilds)."""
    import os
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
