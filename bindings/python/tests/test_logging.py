"""libm4cxr's messages (m4cxr_set_log_callback, installed at import) reach the standard
logger "m4cxr" at the matching levels, from whichever thread runs the call."""
import logging
import threading

import pytest

import m4cxr
from conftest import MODEL_DIR, load


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records():
    """The records of logger "m4cxr" during the test (level DEBUG unless a test changes it)."""
    handler = _Records()
    logger = logging.getLogger("m4cxr")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def _messages(records, level):
    return [r.getMessage() for r in records if r.levelno == level]


def test_the_package_logger_is_m4cxr_with_a_null_handler_only():
    assert m4cxr.logger is logging.getLogger("m4cxr")
    assert [type(h) for h in m4cxr.logger.handlers] == [logging.NullHandler]


def test_loading_the_model_logs_info(records):
    with load():
        pass
    info = _messages(records, logging.INFO)
    assert any(m.startswith(f"loading model '{MODEL_DIR}' (float32 on cpu, 1 intra-op thread(s)") for m in info), info
    assert any(m.startswith("model loaded in ") and "2 text layers" in m for m in info), info
    assert all(r.name == "m4cxr" for r in records)
    assert all(r.thread == threading.get_ident() for r in records)  # the loading thread


def test_an_error_is_logged_with_the_text_of_the_exception(records, tmp_path):
    with pytest.raises(m4cxr.NotFoundError) as e:
        m4cxr.Model(tmp_path / "missing")
    assert _messages(records, logging.ERROR) == [str(e.value)]
    assert "does not exist" in str(e.value)


def test_levels_filter(records):
    logging.getLogger("m4cxr").setLevel(logging.WARNING)
    with load():
        pass
    with pytest.raises(m4cxr.NotFoundError):
        m4cxr.Model("/definitely/missing/folder")
    assert [r.levelno for r in records] == [logging.ERROR]
    records.clear()
    logging.getLogger("m4cxr").setLevel(logging.CRITICAL)
    with pytest.raises(m4cxr.NotFoundError):
        m4cxr.Model("/definitely/missing/folder")
    assert records == []


def test_a_task_logs_debug_on_the_thread_that_runs_it(records, model, image):
    def run():
        with model.session() as s:
            s.vqa(image, "Is there edema?", max_new_tokens=2)

    for where in ("main", "thread"):
        records.clear()
        if where == "main":
            run()
            ident = threading.get_ident()
        else:
            t = threading.Thread(target=run)
            t.start()
            t.join()
            ident = t.ident
        debug = [r for r in records if r.levelno == logging.DEBUG]
        assert any(r.getMessage().startswith("task vqa started: 1 new image(s), 1 turn(s)") for r in debug), where
        assert any(r.getMessage().startswith("task vqa finished after 1 turn(s)") for r in debug), where
        assert all(r.thread == ident for r in records), where  # never a helper thread
        assert not any("edema" in r.getMessage() for r in records)  # no prompt text


def test_a_clipped_box_is_a_warning(records, model, image):
    with model.session() as s:
        s.identify_region(image, "finding", (10, 0, 60, 80), max_new_tokens=1)  # 150x200: rows 25..175 are seen
    assert any("box (10,0,60,80) px is partly outside" in m and "clipped" in m
               for m in _messages(records, logging.WARNING))


def test_a_failing_handler_does_not_break_the_call(model, image, records, monkeypatch):
    import sys

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    class Boom(logging.Handler):
        def emit(self, record):
            raise RuntimeError("handler failed")

        def handleError(self, record):  # logging's default prints; re-raise to reach the binding
            raise

    boom = Boom()
    logging.getLogger("m4cxr").addHandler(boom)
    try:
        with model.session() as s:
            assert s.vqa(image, "Is there edema?", max_new_tokens=1).turns
    finally:
        logging.getLogger("m4cxr").removeHandler(boom)
    assert unraisable and all(isinstance(u.exc_value, RuntimeError) for u in unraisable)  # reported, not raised


def test_the_callback_is_removed_at_exit():
    """At interpreter exit (atexit) the package removes its callback, so no later call of
    the library runs Python code in a finalising interpreter."""
    import subprocess
    import sys

    code = """if True:
        import atexit, logging
        import m4cxr
        records = []
        handler = logging.Handler(); handler.emit = records.append
        m4cxr.logger.addHandler(handler)
        def fail():
            try:
                m4cxr.Model("/definitely/missing/folder")
            except m4cxr.NotFoundError:
                pass
        fail()
        assert len(records) == 1, records
        atexit._run_exitfuncs()
        fail()
        assert len(records) == 1, records
        print("ok")
    """
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


def test_the_decode_path_is_logged_and_set_by_the_environment():
    """The load says which path bf16 CPU decoding and attention take; M4CXR_DECODE_KERNEL,
    M4CXR_INT8_VNNI and M4CXR_FUSED_ATTENTION (read at start, README) choose them."""
    import os
    import subprocess
    import sys

    code = """if True:
        import logging, sys
        import m4cxr
        records = []
        handler = logging.Handler(); handler.emit = records.append
        m4cxr.logger.addHandler(handler); m4cxr.logger.setLevel(logging.INFO)
        m4cxr.Model(sys.argv[1], dtype=sys.argv[2], threads=1).close()
        print([r.getMessage() for r in records if sys.argv[3] in r.getMessage()][0])
    """

    def line(dtype, what="decoding on the CPU", **env):
        p = subprocess.run([sys.executable, "-c", code, MODEL_DIR, dtype, what], capture_output=True, text=True,
                           timeout=120, env={**os.environ, **env})
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    assert line("bfloat16", M4CXR_DECODE_KERNEL="libtorch").endswith("through libtorch")
    assert line("bfloat16", M4CXR_DECODE_KERNEL="portable").endswith("through portable")
    assert line("int8", M4CXR_DECODE_KERNEL="portable", M4CXR_INT8_VNNI="0").endswith("portable, int8 widened to fp32")
    default = line("bfloat16")
    assert "through " in default and "libtorch" not in default
    # M4CXR_FUSED_ATTENTION=0 (README) sends attention back to libtorch.
    assert line("bfloat16", "attention on the CPU", M4CXR_FUSED_ATTENTION="0").endswith("through libtorch")
    assert line("bfloat16", "attention on the CPU").endswith(
        ("fused (AVX512_BF16)", "fused (AMX tiles where the head width allows, else AVX512_BF16)", "through libtorch"))
    # int8 names its integer path: AMX tiles or VNNI where the CPU has them.
    assert line("int8").endswith((", int8 by vnni", ", int8 by AMX tiles (prefill too)", ", int8 widened to fp32"))
    # amx is taken on request where the CPU lists it, and never by default.
    amx = "amx_tile" in open("/proc/cpuinfo").read().split()
    assert line("bfloat16", M4CXR_DECODE_KERNEL="amx").endswith("through amx") == amx
    assert not default.endswith("through amx")
