#!/usr/bin/env python3
"""Generates the task methods of the C# binding (bindings/csharp) from
src/tasks/task_table.json: a `partial class Session` file with, for every task, a method
that runs it and returns its Result and a streaming variant returning a TaskStream
(Report / ReportStream, GroundOrgan / GroundOrganStream, ...).

Naming: the task's name in PascalCase; parameters in camelCase, in table order, followed
by `GenerationOptions options = null, CancellationToken cancellation = default`.
Optional arguments (those with a "default") are optional parameters with the table's
default (a list default [] is null). Every method collects its arguments by name in a
TaskArgs (m4cxr_task_args) and starts the task with m4cxr_task_start; conversions of
values (images, boxes, BoxQuestion) are hand-written in bindings/csharp/src/TaskArgs.cs.

A task with optional arguments also gets the overloads Xxx(required..., options) and
Xxx(required..., options, cancellation) (all parameters given, so they never make a call
ambiguous): calls that passed the options positionally keep compiling when an optional
argument is added to the table.

Usage: gen_task_csharp.py TABLE OUT.cs   (standard library only)
"""
import sys

import task_table

# C# types of the table's argument types (choice: see CHOICE_ENUMS).
TYPES = {
    "image": "Image",
    "images": "IList<Image>",
    "text": "string",
    "texts": "IList<string>",
    "boxes": "double[]",
    "choice": "string",
    "flag": "bool",
}
# TaskArgs adder of each type.
ADDERS = {
    "image": "Image",
    "images": "Images",
    "text": "Text",
    "texts": "Texts",
    "boxes": "Boxes",
    "choice": "Choice",
    "flag": "Flag",
}
# Choice sets that have a hand-written C# enum (its members are the choices in
# PascalCase; TaskArgs.Choice converts it back). Any other choice is a string.
CHOICE_ENUMS = {
    ("finding", "organ", "region", "phrase"): "BoxQuestion",
}
CSHARP_KEYWORDS = set("""abstract as base bool break byte case catch char checked class const continue
decimal default delegate do double else enum event explicit extern false finally fixed float for
foreach goto if implicit in int interface internal is lock long namespace new null object operator
out override params private protected public readonly ref return sbyte sealed short sizeof
stackalloc static string struct switch this throw true try typeof uint ulong unchecked unsafe
ushort using virtual void volatile while""".split())
RESERVED_PARAMS = ("options", "cancellation")


def pascal(name):
    return "".join(w[:1].upper() + w[1:] for w in name.split("_"))


def camel(name):
    p = pascal(name)
    c = p[:1].lower() + p[1:]
    return "@" + c if c in CSHARP_KEYWORDS else c


def xml(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cs_string(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7e:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def cs_type(a):
    if a["type"] == "choice":
        return CHOICE_ENUMS.get(tuple(a["choices"]), "string")
    return TYPES[a["type"]]


def cs_default(a, where):
    d = a["default"]
    t = a["type"]
    if t in task_table.LIST_TYPES:
        return "null"
    if t == "flag":
        return "true" if d else "false"
    if t == "choice":
        if d not in a["choices"]:
            raise task_table.TableError(f"task_table.json: {where}: default {d!r} is not one of the choices")
        enum = cs_type(a)
        return f"{enum}.{pascal(d)}" if enum != "string" else cs_string(d)
    if t == "text":
        return cs_string(d)
    if t == "image":
        return "null"
    raise task_table.TableError(f"task_table.json: {where}: no C# default for type {t}")


def typed_default(a, where):
    """The default as an argument expression that never makes an overload ambiguous."""
    d = cs_default(a, where)
    return f"({cs_type(a)}){d}" if d == "null" else d


def param_list(task, required_only=False, compat=False):
    ps = []
    for a in task["args"]:
        if required_only and task_table.is_optional(a):
            continue
        p = f"{cs_type(a)} {camel(a['name'])}"
        if task_table.is_optional(a) and not required_only:
            p += " = " + cs_default(a, f"{task['name']}.{a['name']}")
        ps.append(p)
    if compat:
        return ps
    return ps + ["GenerationOptions options = null", "CancellationToken cancellation = default(CancellationToken)"]


def arg_names(task, required_only=False):
    return [camel(a["name"]) for a in task["args"] if not (required_only and task_table.is_optional(a))]


def cref(task, stream):
    types = [cs_type(a).replace("<", "{").replace(">", "}") for a in task["args"]]
    types += ["GenerationOptions", "CancellationToken"]
    return f"{pascal(task['name'])}{'Stream' if stream else ''}({', '.join(types)})"


def docs(task, stream, required_only=False, compat_args=()):
    what = xml(task["doc"])
    lines = []
    if stream:
        lines.append(f"        /// <summary>Streaming <see cref=\"{cref(task, False)}\"/>: the text as it is generated.</summary>")
    else:
        conv = ("It continues the session's conversation." if task["conversation"] == "continue" else
                "It starts a new conversation unless options.ContinueConversation is set.")
        lines.append(f"        /// <summary>{what} Task \"{task['name']}\"" +
                     (f" (paper: {xml(task['paper'])})" if task.get("paper") else "") + f". {conv}</summary>")
    for a in task["args"]:
        if required_only and task_table.is_optional(a):
            continue
        doc = xml(a["doc"])
        if task_table.is_optional(a):
            if a["type"] in task_table.LIST_TYPES:
                doc += " (optional; null: an empty list)"
            elif a["type"] in ("text", "choice") and cs_type(a) == "string":
                doc += f" (optional, default {xml(cs_string(a['default']))}; null: the default)"
            else:
                doc += " (optional)"
        if a["type"] == "boxes":
            doc += " (a flat array, 4 values per box)"
        lines.append(f"        /// <param name=\"{camel(a['name']).lstrip('@')}\">{doc}.</param>")
    lines.append("        /// <param name=\"options\">Per-call options (null: the C defaults, greedy, a new conversation).</param>")
    if "cancellation" in compat_args or not required_only:
        lines.append("        /// <param name=\"cancellation\">Stops the generation (the result keeps what was produced).</param>")
    return lines


def emit_task(task):
    name = pascal(task["name"])
    for a in task["args"]:
        if a["name"] in RESERVED_PARAMS:
            raise task_table.TableError(f"task_table.json: {task['name']}.{a['name']}: the name is taken by the C# binding")
    out = []
    args_call = ", ".join(arg_names(task) + ["options", "cancellation"])
    # Xxx: runs the task
    out += docs(task, False)
    out.append(f"        public Result {name}({', '.join(param_list(task))})")
    out.append(f"        {{ return Run({name}Stream({args_call})); }}")
    out.append("")
    # XxxStream: the task as a TaskStream
    out += docs(task, True)
    out.append(f"        public TaskStream {name}Stream({', '.join(param_list(task))})")
    out.append("        {")
    out.append("            using (var args = new TaskArgs())")
    out.append("            {")
    for a in task["args"]:
        opt = "true" if task_table.is_optional(a) else "false"
        if a["type"] == "flag":
            out.append(f"                args.Flag({cs_string(a['name'])}, {camel(a['name'])});")
        else:
            out.append(f"                args.{ADDERS[a['type']]}({cs_string(a['name'])}, {camel(a['name'])}, "
                       f"{cs_string(camel(a['name']).lstrip('@'))}, {opt});")
    out.append(f"                return Start({cs_string(task['name'])}, args, options, cancellation);")
    out.append("            }")
    out.append("        }")
    out.append("")
    # compatibility overloads without the optional arguments
    if any(task_table.is_optional(a) for a in task["args"]):
        req = param_list(task, required_only=True, compat=True)
        req_call = arg_names(task, required_only=True)
        full_call = ", ".join(
            (camel(a["name"]) if not task_table.is_optional(a) else typed_default(a, task["name"]))
            for a in task["args"])
        for stream in (False, True):
            ret = "TaskStream" if stream else "Result"
            m = name + ("Stream" if stream else "")
            for with_cancel in (False, True):
                extra = ["GenerationOptions options"] + (["CancellationToken cancellation"] if with_cancel else [])
                out.append(f"        /// <summary>Same as <see cref=\"{cref(task, stream)}\"/> with the table's defaults for the "
                           "optional arguments.</summary>")
                out += docs(task, False, required_only=True, compat_args=("cancellation",) if with_cancel else ())[1:]
                out.append(f"        public {ret} {m}({', '.join(req + extra)})")
                out.append(f"        {{ return {m}({full_call}, options, "
                           f"{'cancellation' if with_cancel else 'default(CancellationToken)'}); }}")
                out.append("")
    return out


def generate(table):
    lines = ["// Generated from src/tasks/task_table.json by tools/gen_task_csharp.py. Do not edit.",
             "using System.Collections.Generic;",
             "using System.Threading;",
             "",
             "namespace M4cxr",
             "{",
             "    public sealed partial class Session",
             "    {"]
    body = []
    for t in table["tasks"]:
        body += emit_task(t)
    lines += body[:-1] if body and body[-1] == "" else body
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def main(table_path, out_path):
    task_table.write_if_changed(out_path, generate(task_table.load(table_path)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gen_task_csharp.py TABLE OUT.cs")
    main(sys.argv[1], sys.argv[2])
