#!/usr/bin/env python3
"""Runs a README.md code snippet as a user would paste it: the ```LANG block (python, java
or csharp), with the placeholder checkpoint folder and image replaced by the tiny test model
and a test image, wrapped in a main method, compiled against the built binding and run.
Usage:
  run_snippet.py python  README MODEL IMAGE PYTHON PACKAGE_PARENT_DIR
  run_snippet.py java    README MODEL IMAGE JAVAC JAVA JAR JNI_DIR
  run_snippet.py csharp  README MODEL IMAGE MCS MONO BINDING_DIR
Prints '1 passed, 0 failed' (or the failure) and exits accordingly."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

lang, readme, model, image = sys.argv[1:5]
fence = {"python": "python", "java": "java", "csharp": "csharp"}[lang]
blocks = re.findall(r"```" + fence + r"\n(.*?)```", open(readme).read(), re.S)
if not blocks:
    sys.exit(f"FAILED: no ```{fence} block in {readme}\n0 passed, 1 failed")
code = blocks[0].replace('"M4CXR-TNNLS"', '"' + model + '"').replace('"chest.png"', '"' + image + '"')
tmp = tempfile.mkdtemp(prefix="m4cxr_readme_")
try:
    if lang == "python":
        python, package_dir = sys.argv[5:7]
        src = os.path.join(tmp, "readme_snippet.py")
        with open(src, "w") as f:
            f.write(code)
        os.environ["PYTHONPATH"] = package_dir
        run = [python, src]
    elif lang == "java":
        javac, java, jar, jni_dir = sys.argv[5:9]
        src = os.path.join(tmp, "ReadmeSnippet.java")
        with open(src, "w") as f:
            f.write("import org.m4cxr.*;\nimport java.nio.file.Path;\nimport java.util.List;\n\n"
                    "public class ReadmeSnippet {\n  public static void main(String[] args) throws Exception {\n"
                    + code + "  }\n}\n")
        subprocess.run([javac, "-cp", jar, "-d", tmp, src], check=True)
        run = [java, "-Djava.library.path=" + jni_dir, "-cp", jar + os.pathsep + tmp, "ReadmeSnippet"]
    else:
        mcs, mono, binding_dir = sys.argv[5:8]
        src = os.path.join(tmp, "ReadmeSnippet.cs")
        with open(src, "w") as f:
            f.write("using System;\n\nclass ReadmeSnippet\n{\n    static void Main()\n    {\n" + code + "    }\n}\n")
        for name in os.listdir(binding_dir):  # the dll, its dllmap config and the glue library
            if name.startswith(("M4cxr.dll", "libm4cxr_csharp")):
                shutil.copy(os.path.join(binding_dir, name), tmp)
        exe = os.path.join(tmp, "ReadmeSnippet.exe")
        subprocess.run([mcs, "-r:" + os.path.join(tmp, "M4cxr.dll"), "-out:" + exe, src], check=True)
        run = [mono, exe]
    p = subprocess.run(run, capture_output=True, text=True, timeout=600, cwd=tmp)
    ok = p.returncode == 0 and len(p.stdout.strip()) > 0
    if not ok:
        print(f"FAILED: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    print(f"{int(ok)} passed, {int(not ok)} failed")
    sys.exit(0 if ok else 1)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
