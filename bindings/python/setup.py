"""pip install of the m4cxr Python binding, for any CPython 3 (a virtual environment, a
pyenv interpreter) against an installed libm4cxr:

    cmake --install build --prefix PREFIX          # or scripts/setup.sh (PREFIX=/usr/local)
    python -m venv venv
    PKG_CONFIG_PATH=PREFIX/lib/pkgconfig venv/bin/pip install --no-build-isolation ./bindings/python

libm4cxr is found with pkg-config (m4cxr.pc); the extension records its folder as run
path. The task methods (m4cxr/_tasks.py) are generated from src/tasks/task_table.json as
the CMake build does. Needs pybind11's headers (Debian: pybind11-dev) and the
interpreter's development headers."""
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def pkgconfig(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "m4cxr"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("m4cxr: cannot find libm4cxr with pkg-config (install it, and set PKG_CONFIG_PATH to "
                 f"PREFIX/lib/pkgconfig): {e}")
    return out.split()


class BuildPyWithTasks(build_py):
    """Also writes m4cxr/_tasks.py from the task table."""

    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "m4cxr", "_tasks.py")
        subprocess.run([sys.executable, os.path.join(REPO, "tools", "gen_task_python.py"),
                        os.path.join(REPO, "src", "tasks", "task_table.json"), out], check=True)


libdir = pkgconfig("--variable=libdir")[0]
extension = Extension(
    "m4cxr._m4cxr",
    sources=[os.path.join("src", "module.cpp")],
    language="c++",
    extra_compile_args=["-std=c++17", "-fvisibility=hidden", *pkgconfig("--cflags")],
    extra_link_args=[*pkgconfig("--libs"), "-Wl,-rpath," + libdir],
)

setup(
    name="m4cxr",
    version=pkgconfig("--modversion")[0],
    description="Python binding of m4cxr, the engine for the M4CXR chest X-ray multimodal LLM",
    packages=["m4cxr"],
    package_data={"m4cxr": ["py.typed", "_m4cxr.pyi"]},
    ext_modules=[extension],
    cmdclass={"build_py": BuildPyWithTasks},
    python_requires=">=3.8",
)
