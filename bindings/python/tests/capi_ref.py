"""Drives libm4cxr.so directly through ctypes (the same library the extension loaded), as
an independent reference for the binding's results."""
import ctypes as C
import importlib
import json


def library() -> C.CDLL:
    importlib.import_module("m4cxr")  # maps libm4cxr.so into the process

    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/libm4cxr.so" in line}
    assert len(paths) == 1, paths
    return C.CDLL(paths.pop())


# The layouts of include/m4cxr/m4cxr.h (ABI 1, version 0.2), filled with the *_init calls
# and their size (what the header's *_default macros do).
class ModelOptions(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("dtype", C.c_int), ("device", C.c_char_p), ("threads", C.c_int),
                ("adapter_dir", C.c_char_p), ("max_image_pixels", C.c_int64), ("progress", C.c_void_p),
                ("progress_user_data", C.c_void_p), ("max_cached_images", C.c_int)]


class GenerationOptions(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("max_new_tokens", C.c_int), ("do_sample", C.c_int),
                ("temperature", C.c_float), ("top_k", C.c_int), ("top_p", C.c_float), ("seed", C.c_uint64),
                ("continue_conversation", C.c_int), ("logprobs", C.c_int), ("top_logprobs", C.c_int)]


def report(model_dir: str, image_path: str, max_new_tokens: int) -> dict:
    """m4cxr_report on one image (fp32, greedy) -> pieces per turn, text, findings, json."""
    lib = library()
    lib.m4cxr_last_error.restype = C.c_char_p
    for f in ("m4cxr_result_text", "m4cxr_result_turn_text", "m4cxr_result_finding", "m4cxr_result_json"):
        getattr(lib, f).restype = C.c_char_p
    for f in ("m4cxr_result_turn_count", "m4cxr_result_finding_count"):
        getattr(lib, f).restype = C.c_size_t
    lib.m4cxr_result_turn_text.argtypes = lib.m4cxr_result_finding.argtypes = [C.c_void_p, C.c_size_t]
    for f in ("m4cxr_result_text", "m4cxr_result_json", "m4cxr_result_turn_count", "m4cxr_result_finding_count",
              "m4cxr_result_free", "m4cxr_task_free", "m4cxr_session_free", "m4cxr_image_free", "m4cxr_model_free"):
        getattr(lib, f).argtypes = [C.c_void_p]

    def ok(status: int) -> None:
        assert status == 0, lib.m4cxr_last_error().decode()

    mo = ModelOptions()
    lib.m4cxr_model_options_init(C.byref(mo), C.c_size_t(C.sizeof(mo)))
    mo.dtype, mo.threads = 1, 1
    model, image, session, task, result = (C.c_void_p() for _ in range(5))
    ok(lib.m4cxr_model_load(model_dir.encode(), C.byref(mo), C.byref(model)))
    ok(lib.m4cxr_image_from_file(model, image_path.encode(), C.byref(image)))
    ok(lib.m4cxr_session_create(model, C.byref(session)))
    go = GenerationOptions()
    lib.m4cxr_generation_options_init(C.byref(go), C.c_size_t(C.sizeof(go)))
    go.max_new_tokens = max_new_tokens
    images = (C.c_void_p * 1)(image)
    ok(lib.m4cxr_report(session, images, C.c_size_t(1), C.byref(go), C.byref(task)))
    piece, length, turn = C.c_char_p(), C.c_size_t(), C.c_int()
    pieces: list = []
    while (st := lib.m4cxr_task_next(task, C.byref(piece), C.byref(length), C.byref(turn))) == 0:
        pieces += [b""] * (turn.value + 1 - len(pieces))
        pieces[turn.value] += C.string_at(piece, length.value)
    assert st == 100, lib.m4cxr_last_error().decode()  # M4CXR_DONE
    ok(lib.m4cxr_task_result(task, C.byref(result)))
    out = {
        "pieces": [p.decode() for p in pieces],
        "text": lib.m4cxr_result_text(result).decode(),
        "turns": [lib.m4cxr_result_turn_text(result, i).decode() for i in range(lib.m4cxr_result_turn_count(result))],
        "findings": [lib.m4cxr_result_finding(result, i).decode()
                     for i in range(lib.m4cxr_result_finding_count(result))],
        "json": json.loads(lib.m4cxr_result_json(result).decode()),
    }
    lib.m4cxr_result_free(result)
    lib.m4cxr_task_free(task)
    lib.m4cxr_session_free(session)
    lib.m4cxr_image_free(image)
    lib.m4cxr_model_free(model)
    return out
