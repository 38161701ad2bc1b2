#!/usr/bin/env python3
"""Generates the task methods of the Python binding (m4cxr/_tasks.py) from
src/tasks/task_table.json: one method per task on the mixin class TaskMethods, which
m4cxr.Session derives from. Arguments come in table order (the positional order), an
optional argument defaults to the table's default (a list default [] as the immutable
()), then the keyword-only `stream` flag and the generation options (**gen). Each method
hands its values to Session._task (hand-written in m4cxr/__init__.py), which converts
them (images, boxes, choices) and calls m4cxr_task_start with named arguments.
Standard library only. Usage: gen_task_python.py TABLE OUT"""
import keyword
import os
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import task_table  # noqa: E402

# Type hints of each argument type (names defined in m4cxr/__init__.py).
HINTS = {
    "image": "ImageLike",
    "images": "Union[ImageLike, Sequence[ImageLike]]",
    "text": "str",
    "texts": "Sequence[str]",
    "boxes": "Union[BoxLike, Sequence[BoxLike]]",
    "choice": "Union[str, int, enum.Enum]",
    "flag": "bool",
}


def default_source(arg):
    d = arg["default"]
    if arg["type"] in task_table.LIST_TYPES:
        return "()"  # the table's [] as an immutable default
    return repr(d)


def param(arg):
    hint = HINTS[arg["type"]]
    if not task_table.is_optional(arg):
        return f"{arg['name']}: {hint}"
    if arg["type"] in ("text", "texts"):
        hint = f"Optional[{hint}]"  # None also means the default
    return f"{arg['name']}: {hint} = {default_source(arg)}"


def docstring(task):
    lines = textwrap.wrap(task["doc"], 88)
    lines.append("")
    lines.append(f"Task ``{task['name']}``" + (f" (paper: {task['paper']})" if task.get("paper") else "") +
                 (", continues the session's conversation." if task["conversation"] == "continue" else
                  ", starts a new conversation unless ``continue_conversation=True``."))
    if task["args"]:
        lines.append("")
    for a in task["args"]:
        extra = ""
        if a["type"] == "choice":
            extra = " One of " + ", ".join(repr(c) for c in a["choices"]) + "."
        if a["type"] in task_table.LIST_TYPES:
            extra += f" {a.get('min', 1)} to {a.get('max', 0)}."
        if task_table.is_optional(a):
            extra += f" Default {default_source(a) if a['type'] in task_table.LIST_TYPES else repr(a['default'])}."
        lines += textwrap.wrap(f"``{a['name']}`` ({a['type']}): {a['doc']}.{extra}".replace("..", "."), 84,
                               subsequent_indent="    ")
    lines.append("")
    lines.append("Returns a :class:`Result`, or with ``stream=True`` a :class:`Stream` of the pieces.")
    body = "\n".join(("        " + ln) if ln else "" for ln in lines)
    return '        """' + body.lstrip() + '\n        """'


def method(task):
    for a in task["args"]:
        if keyword.iskeyword(a["name"]) or a["name"] in ("self", "stream", "gen"):
            raise task_table.TableError(f"task_table.json: {task['name']}.{a['name']}: not usable as a Python parameter")
    head = ["self"] + [param(a) for a in task["args"]] + ["*"]
    gen = "**gen: Unpack[Generation]"
    values = "".join(a["name"] + ", " for a in task["args"])

    def signature(stream_param, result):
        return [f"    def {task['name']}(", *[f"            {p}," for p in head + [stream_param, gen]], f"    ) -> {result}:"]

    # Overloads: type checkers see a Result without stream=True and a Stream with it.
    out = ["    @overload", *signature("stream: Literal[False] = False", "Result"), "        ...", "",
           "    @overload", *signature("stream: Literal[True]", "Stream"), "        ...", "",
           *signature("stream: bool = False", "Union[Result, Stream]"), docstring(task),
           f"        return self._task({task['name']!r}, ({values}), stream, gen)", ""]
    return "\n".join(out)


def spec(task):
    args = []
    for a in task["args"]:
        d = {"name": a["name"], "type": a["type"], "optional": task_table.is_optional(a)}
        if task_table.is_optional(a):
            d["default"] = a["default"]
        if "choices" in a:
            d["choices"] = list(a["choices"])
        args.append(d)
    return f"    {task['name']!r}: {{'conversation': {task['conversation']!r}, 'args': {args!r}}},"


def main(table_path, out_path):
    table = task_table.load(table_path)
    if any(t["name"].startswith("_") or t["name"] in RESERVED for t in table["tasks"]):
        raise task_table.TableError("task_table.json: a task name clashes with a Session member")
    lines = [
        "# Generated from src/tasks/task_table.json by tools/gen_task_python.py. Do not edit.",
        '"""The task methods of :class:`m4cxr.Session`, one per task of the library\'s task table."""',
        "from __future__ import annotations",
        "",
        "import enum",
        "from typing import TYPE_CHECKING, Literal, Optional, Sequence, Union, overload",
        "",
        "if TYPE_CHECKING:",
        "    import sys",
        "",
        "    if sys.version_info >= (3, 11):",
        "        from typing import Unpack",
        "    else:",
        "        from typing_extensions import Unpack",
        "",
        "    from . import BoxLike, Generation, ImageLike, Result, Stream",
        "",
        "# Each task's arguments in positional order, as the table declares them.",
        "TASKS = {",
        *[spec(t) for t in table["tasks"]],
        "}",
        "",
        "",
        "class TaskMethods:",
        '    """Mixin of :class:`m4cxr.Session`: the task methods."""',
        "",
        "    __slots__ = ()",
        "",
        *[method(t) for t in table["tasks"]],
    ]
    text = "\n".join(lines).rstrip("\n") + "\n"
    compile(text, out_path, "exec")  # a generator bug fails the build, not the import
    task_table.write_if_changed(out_path, text)


# Members of Session that a task may not be named after.
RESERVED = {"reset", "cancel", "close", "closed", "append_turn", "clear_image_cache", "model"}

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[-1].strip())
    main(sys.argv[1], sys.argv[2])
