#!/usr/bin/env python3
"""Generates the task methods of the Java binding (org.m4cxr.SessionTasks, the sealed
superclass of org.m4cxr.Session) from src/tasks/task_table.json.

For every task `name` of the table it writes, in Java camelCase:
  name(args...)                 -> Result       runs the task to its end
  nameStream(args...)           -> TaskStream   pulls the text piece by piece
each also with a trailing GenerationOptions parameter, and for every prefix of the
optional arguments (those with a "default") one overload, so that an optional argument
may be left out (the library then applies the table's default). Arguments keep the
table's order. The methods collect the arguments by name (TaskArgs, hand-written) and
start the task with m4cxr_task_start; nothing here knows a particular task.

Usage: gen_task_java.py TABLE OUT_JAVA_FILE"""
import json
import os
import sys
import textwrap

import task_table

# A choice argument whose choices are exactly the constants of one of these hand-written
# enums (lower-cased, in order) takes that enum; any other choice is a String.
CHOICE_ENUMS = {
    "BoxQuestion": ["finding", "organ", "region", "phrase"],
}

JAVA_KEYWORDS = set("""abstract assert boolean break byte case catch char class const continue default do
double else enum extends final finally float for goto if implements import instanceof int interface long
native new package private protected public return short static strictfp super switch synchronized this
throw throws transient try void volatile while true false null var record yield sealed permits""".split())


def camel(name):
    head, *rest = name.split("_")
    s = head + "".join(p[:1].upper() + p[1:] for p in rest)
    return s + "_" if s in JAVA_KEYWORDS else s


def java_type(a):
    t = a["type"]
    if t == "image":
        return "Image"
    if t == "images":
        return "List<Image>"
    if t == "text":
        return "String"
    if t == "texts":
        return "List<String>"
    if t == "boxes":
        return "double[][]"
    if t == "flag":
        return "boolean"
    if t == "choice":
        for enum, values in CHOICE_ENUMS.items():
            if list(a["choices"]) == values:
                return enum
        return "String"
    raise task_table.TableError(f"no Java type for {t}")


def adder(a):
    """The TaskArgs call that adds argument `a` (its Java variable is camel(name))."""
    t = a["type"]
    var = camel(a["name"])
    name = json.dumps(a["name"])
    if t == "flag":
        return f".flag({name}, {var})"
    method = {"image": "image", "images": "images", "text": "text", "texts": "texts", "boxes": "boxes",
              "choice": "choice"}[t]
    return f".{method}({name}, {var}, {'true' if task_table.is_optional(a) else 'false'})"


def default_literal(a):
    """What a shorter overload passes for an optional argument it leaves out."""
    if a["type"] == "flag":
        return "true" if a["default"] else "false"
    return "null"  # "not given": the library applies the table's default


def html(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*/", "*&#47;")
            .replace("@", "&#64;"))


def java_string(s):
    return json.dumps(s, ensure_ascii=False)


def comment(text, indent="   * "):
    """`text` wrapped as lines of a Javadoc comment."""
    return "\n".join(textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False))


def param_doc(a):
    d = html(a["doc"])
    t = a["type"]
    if t in task_table.LIST_TYPES:
        d += f" ({a.get('min', 1)} to {a.get('max', 0)}"
        d += " boxes of 4 values x1, y1, x2, y2)" if t == "boxes" else ")"
    if t == "choice":
        d += " (one of " + ", ".join(html(c) for c in a["choices"]) + ")"
    if task_table.is_optional(a):
        dv = json.dumps(a["default"], ensure_ascii=False)
        d += f"; optional, default {html(dv)}" + ("" if t == "flag" else " (null means the default)")
    return d


def signature(params, varargs_last):
    out = []
    for i, (typ, var, annot) in enumerate(params):
        if varargs_last and i == len(params) - 1 and typ == "double[][]":
            typ = "double[]..."
        out.append(f"{annot}{typ} {var}")
    return ", ".join(out)


def task_methods(t):
    name = camel(t["name"])
    args = t["args"]
    required = [a for a in args if not task_table.is_optional(a)]
    optional = [a for a in args if task_table.is_optional(a)]
    full = [(java_type(a), camel(a["name"]),
             f"@TaskDefault({java_string(json.dumps(a['default'], ensure_ascii=False))}) "
             if task_table.is_optional(a) else "") for a in args]
    conv = ("Starts a new conversation unless {@link GenerationOptions#continueConversation(boolean)} is set."
            if t["conversation"] == "fresh" else "Always continues the session's conversation.")
    doc_params = "".join("\n" + comment(f"@param {camel(a['name'])} {param_doc(a)}") for a in args)
    opt_doc = "\n" + comment("@param options decoding settings and continue_conversation of this call (null: the defaults)")
    lines = [f"  // ---- {t['name']} ({t.get('paper', '')}), output {t['output']}, conversation {t['conversation']}", ""]

    for stream in (False, True):
        mname = name + ("Stream" if stream else "")
        ret = "TaskStream" if stream else "Result"
        what = ("Streaming form: the text piece by piece (see {@link TaskStream})." if stream
                else "Runs the task to its end.")
        # the full form with options: the one that does the work
        lines.append(f"  /**\n{comment(html(t['doc']) + ' ' + what + ' ' + conv)}\n   *{doc_params}{opt_doc}\n   */")
        params = full + [("GenerationOptions", "options", "")]
        lines.append(f"  public final {ret} {mname}({signature(params, False)}) {{")
        if stream:
            chain = "".join("\n        " + adder(a) for a in args)
            lines.append(f"    return start({java_string(t['name'])}, new TaskArgs(){chain}, options);")
        else:
            call_args = ", ".join(camel(a["name"]) for a in args)
            lines.append(f"    return TaskStream.runToEnd({name}Stream({call_args}{', ' if args else ''}options));")
        lines += ["  }", ""]
        # every shorter form: a prefix of the optional arguments, with and without options
        for k in range(len(optional), -1, -1):
            given = required + optional[:k]
            for with_options in (True, False):
                if k == len(optional) and with_options:
                    continue  # the full form above
                params = [(java_type(a), camel(a["name"]), "") for a in given]
                if with_options:
                    params.append(("GenerationOptions", "options", ""))
                passed = [camel(a["name"]) for a in given] + [default_literal(a) for a in optional[k:]]
                passed.append("options" if with_options else "GenerationOptions.defaults()")
                left = ", ".join(camel(a["name"]) for a in optional[k:])
                notes = ([f"{left} at the default"] if left else []) + ([] if with_options else ["the default options"])
                note = " with " + " and ".join(notes)
                link = ", ".join(p[0].split("<")[0] for p in full) + (", " if full else "") + "GenerationOptions"
                lines.append(f"  /** {{@link #{mname}({link})}}{note}. */")
                lines.append(f"  public final {ret} {mname}({signature(params, not with_options)}) {{")
                lines.append(f"    return {mname}({', '.join(passed)});")
                lines += ["  }", ""]
    return lines


def main(table_path, out_path):
    table = task_table.load(table_path)
    lines = [
        "// Generated from src/tasks/task_table.json by tools/gen_task_java.py. Do not edit.",
        "package org.m4cxr;",
        "",
        "import java.util.List;",
        "",
        "/**",
        " * The task methods of {@link Session}, one pair per task of the library's task table",
        " * ({@code src/tasks/task_table.json}): {@code name(...)} returns the {@link Result},",
        " * {@code nameStream(...)} a {@link TaskStream}. Each takes the task's arguments in the",
        " * table's order, optionally followed by the {@link GenerationOptions} of this call; an",
        " * optional argument (see {@link TaskDefault}) may be left out. A task that brings its own",
        " * images starts a new conversation unless the options continue it.",
        " */",
        "public abstract sealed class SessionTasks permits Session {",
        "  SessionTasks() {}",
        "",
        "  /** Starts the task {@code task} (a table name) with {@code args} and {@code options} (null: defaults). */",
        "  abstract TaskStream start(String task, TaskArgs args, GenerationOptions options);",
        "",
    ]
    for t in table["tasks"]:
        lines += task_methods(t)
    lines += ["}", ""]
    text = "\n".join(lines)
    task_table.write_if_changed(out_path, text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
