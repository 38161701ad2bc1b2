"""Shared fixtures: the tiny golden model (random weights: the text is gibberish by
design, but greedy outputs are deterministic) and its images. M4CXR_GOLDEN_DIR overrides
<repo>/tests/data/golden."""
import json
import os
import pathlib

import pytest

import m4cxr

REPO = pathlib.Path(__file__).resolve().parents[3]
GOLDEN = pathlib.Path(os.environ.get("M4CXR_GOLDEN_DIR") or REPO / "tests" / "data" / "golden")
MODEL_DIR = GOLDEN / "models" / "merged_fp32"


def image_path(name: str) -> str:
    return str(GOLDEN / "images" / name)


def load(**kw) -> m4cxr.Model:
    """The tiny model, fp32 (greedy outputs then equal the goldens), one intra-op thread:
    libtorch's thread pool on a busy 2-core machine is 100x slower than one thread, and
    the setting is process-wide (each load sets it)."""
    return m4cxr.Model(MODEL_DIR, **{"dtype": "float32", "threads": 1, **kw})


@pytest.fixture(scope="session")
def manifest():
    return json.loads((GOLDEN / "manifest.json").read_text())


@pytest.fixture(scope="session")
def model():
    with load() as m:
        yield m


@pytest.fixture
def session(model):
    with model.session() as s:
        yield s


@pytest.fixture(scope="session")
def image(model):
    with model.image(image_path("rgb_150x200.jpg")) as im:
        yield im
