#!/usr/bin/env python3
"""Generates the C++ task table (src/tasks/task_registry.cpp includes it) from
src/tasks/task_table.json: the declarations, the plan function each task needs
(plan_<name> in src/tasks/task_plans.cpp: a missing one is a link error) and the JSON
text itself for m4cxr_task_table_json(). Usage: gen_task_cpp.py TABLE OUT"""
import json
import sys

import task_table

TYPES = {t: "ArgType::" + t for t in task_table.ARG_TYPES}


def cstr(s):
    return json.dumps(s, ensure_ascii=False)


def arg_decl(a):
    lo, hi = (a.get("min", 1), a.get("max", 1)) if a["type"] in task_table.LIST_TYPES else (1, 1)
    default = a.get("default")
    text_default = cstr(default) if isinstance(default, str) else "nullptr"
    flag_default = "true" if default is True else "false"
    choices = ", ".join(cstr(c) for c in a.get("choices", []))
    return (f"      {{{cstr(a['name'])}, {TYPES[a['type']]}, {lo}, {hi}, "
            f"{'true' if task_table.is_optional(a) else 'false'}, {text_default}, {flag_default}, "
            f"{{{choices}}}, {cstr(a['doc'])}}}")


def main(table_path, out_path):
    table = task_table.load(table_path)
    with open(table_path, encoding="utf-8") as f:
        raw = f.read()
    if ")m4cxr_json\"" in raw:
        raise task_table.TableError("the table may not contain the raw-string delimiter")
    lines = [f"// Generated from src/tasks/task_table.json by tools/gen_task_cpp.py. Do not edit.",
             "// Included by src/tasks/task_registry.cpp inside namespace m4cxr.", ""]
    for t in table["tasks"]:
        lines.append(f"TaskPlan plan_{t['name']}(const TaskArgs& args, const TaskContext& context);")
    lines += ["", "const std::vector<TaskDecl>& generated_task_decls() {",
              "  static const std::vector<TaskDecl> decls = {"]
    for t in table["tasks"]:
        conv = "ConversationUse::fresh" if t["conversation"] == "fresh" else "ConversationUse::continues"
        lines.append(f"    {{{cstr(t['name'])}, OutputKind::{t['output']}, {conv}, {cstr(t['doc'])},")
        lines.append("     {")
        lines.append(",\n".join(arg_decl(a) for a in t["args"]))
        lines.append(f"     }},\n     &plan_{t['name']}}},")
    lines += ["  };", "  return decls;", "}", "",
              f'constexpr std::string_view kTaskTableJson = R"m4cxr_json({raw})m4cxr_json";', ""]
    text = "\n".join(lines)
    task_table.write_if_changed(out_path, text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
