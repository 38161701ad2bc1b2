#!/usr/bin/env python3
"""Writes the task reference (docs/tasks.md) from src/tasks/task_table.json.
Usage: gen_task_docs.py TABLE OUT     (--check: exit 1 if OUT differs from what it would write)"""
import json
import sys

import task_table

CALLS = {"python": "session.{name}(...)", "java": "session.{camel}(...)", "csharp": "session.{pascal}(...)"}


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def render(table):
    out = ["# Tasks", "",
           "Generated from `src/tasks/task_table.json` by `tools/gen_task_docs.py`; do not edit.",
           "Every task runs through `m4cxr_task_start(session, name, args, options, &task)` in C; the",
           "bindings' methods (`session.report(...)`, `session.groundOrgan(...)`, `session.GroundOrgan(...)`)",
           "and the `m4cxr` CLI commands are generated from the same table. Boxes are in original-image",
           "pixels. `fresh` tasks start a new conversation unless `continue_conversation` is set;",
           "`continue` tasks always continue the session's conversation.", "",
           "| task | paper | conversation | output | CLI |", "|---|---|---|---|---|"]
    for t in table["tasks"]:
        out.append(f"| [`{t['name']}`](#{t['name']}) | {t.get('paper', '')} | {t['conversation']} | "
                   f"{t['output']} | `m4cxr {t['cli']['command']}` |")
    for t in table["tasks"]:
        out += ["", f"## {t['name']}", "", t["doc"], "",
                "| argument | type | count | default | CLI | meaning |", "|---|---|---|---|---|---|"]
        for a in t["args"]:
            count = f"{a.get('min', 1)}..{a.get('max', 1)}" if a["type"] in task_table.LIST_TYPES else "1"
            default = json.dumps(a["default"]) if "default" in a else "required"
            if a["type"] == "choice":
                default += " (one of " + ", ".join(a["choices"]) + ")"
            out.append(f"| `{a['name']}` | {a['type']} | {count} | {default} | `{a['cli']}` | {a['doc']} |")
    return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    text = render(task_table.load(args[0]))
    if check:
        with open(args[1], encoding="utf-8") as f:
            if f.read() != text:
                sys.exit(f"{args[1]} is out of date: run tools/gen_task_docs.py {args[0]} {args[1]}")
        return
    with open(args[1], "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
