"""Installs a build tree into a temporary prefix and imports the installed package from
another directory, without LD_LIBRARY_PATH: the extension must find the installed
libm4cxr.so through its RPATH. Usage: check_install.py BUILD_DIR PY_INSTALL_DIR MODEL_DIR"""
import os
import subprocess
import sys
import tempfile

build, pydir, model = sys.argv[1:4]
with tempfile.TemporaryDirectory(prefix="m4cxr_pyinstall_") as prefix:
    done = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"cmake --install failed (it needs the whole tree built: ninja -C {build}):\n{done.stderr}")
    site = pydir if os.path.isabs(pydir) else os.path.join(prefix, pydir)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update(PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
    code = ("import m4cxr\n"
            f"m = m4cxr.Model({model!r}, threads=1)\n"
            "libs = {l.split()[-1] for l in open('/proc/self/maps') if '/libm4cxr.so' in l}\n"
            "print(m4cxr.__file__, *libs, m.info.dtype)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, check=True, capture_output=True,
                         text=True).stdout
    print(out, end="")
    files = out.split()
    assert files[0].startswith(site + "/m4cxr/"), files
    assert len(files) == 3 and os.path.realpath(files[1]).startswith(os.path.realpath(prefix)), files
print("installed package imports and loads the installed libm4cxr")
