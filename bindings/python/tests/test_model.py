"""Loading, model info, progress, closing, and the error types of the binding."""
import sys

import numpy as np
import pytest

import m4cxr
from m4cxr import _m4cxr
from conftest import GOLDEN, MODEL_DIR, image_path, load


def test_version_and_status_codes_match_the_header():
    assert _m4cxr.abi_version() == _m4cxr.ABI_VERSION
    assert m4cxr.__version__.count(".") == 2
    names = {name: code for name, code in _m4cxr.STATUSES.items()}
    assert sorted(names.values()) == sorted(s.value for s in m4cxr.Status)
    assert names["i/o error"] == m4cxr.Status.IO and names["done"] == m4cxr.Status.DONE


def test_load_and_info(model, manifest):
    info = model.info
    assert info.visual_tokens_per_image == manifest["dims"]["num_visual_tokens_per_image"]
    assert info.text_hidden == manifest["dims"]["lm"]["hidden_size"]
    assert info.vocab_size == manifest["dims"]["lm"]["vocab_size"]
    assert (info.dtype, info.device) == ("float32", "cpu")
    assert info.weight_bytes > 0 and not model.closed
    with m4cxr.Model(MODEL_DIR, threads=1) as bf16:  # default dtype
        assert bf16.info.dtype == "bfloat16"
        assert bf16.info.weight_bytes < info.weight_bytes
        with m4cxr.Model(MODEL_DIR, dtype="int8", threads=1) as int8:  # issue 11
            assert int8.info.dtype == "int8"
            assert int8.info.weight_bytes < bf16.info.weight_bytes
            with int8.session() as s:
                r = s.report(image_path("gray8_70x70.png"), max_new_tokens=4)
            assert r.stats.generated_tokens > 0 and r.to_dict()["replay"]["runtime_dtype"] == "int8"
    assert bf16.closed
    with pytest.raises(m4cxr.InvalidArgumentError, match="int8"):
        m4cxr.Model(MODEL_DIR, dtype="int4")


def test_progress_callback_reports_and_can_abort():
    seen = []
    load(progress=seen.append).close()
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    with pytest.raises(m4cxr.CancelledError) as e:
        load(progress=lambda f: f < 0.5)  # False aborts
    assert e.value.status == m4cxr.Status.CANCELLED and "progress" in str(e.value)

    def boom(fraction):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        load(progress=boom)


def test_missing_model_folder_raises_not_found_with_the_c_message(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError) as e:
        m4cxr.Model(missing)
    err = e.value
    assert isinstance(err, m4cxr.NotFoundError) and isinstance(err, m4cxr.FileError)
    assert isinstance(err, OSError) and isinstance(err, m4cxr.Error)
    assert err.status == m4cxr.Status.IO and err.status_name == "i/o error"
    assert str(missing) in str(err) and err.filename == str(missing)
    # an existing folder without a checkpoint is an I/O error, but not "not found"
    with pytest.raises(m4cxr.FileError) as e2:
        m4cxr.Model(tmp_path)
    assert not isinstance(e2.value, FileNotFoundError) and str(e2.value)


def test_invalid_load_arguments():
    with pytest.raises(ValueError):
        load(dtype="int4")
    with pytest.raises(m4cxr.InvalidArgumentError) as e:
        load(threads=-1)
    assert "threads" in str(e.value) and e.value.status == m4cxr.Status.INVALID_ARGUMENT
    with pytest.raises(m4cxr.InvalidArgumentError, match="unknown device"):
        load(device="tpu")


def test_closing_a_model_with_open_sessions_and_images_is_safe():
    model = load()
    session = model.session()
    path = image_path("gray8_70x70.png")
    image = model.image(path)
    model.close()
    model.close()  # idempotent
    assert model.closed
    with pytest.raises(m4cxr.InvalidHandleError, match="model is closed"):
        model.session()
    with pytest.raises(ValueError):
        model.image(path)
    r = session.vqa(image, "Is there pleural effusion?", max_new_tokens=3)  # weights still alive
    assert r.stats.generated_tokens == 3
    session.close()
    image.close()
    with pytest.raises(m4cxr.InvalidHandleError):
        session.vqa(image, "again?")
    with pytest.raises(m4cxr.InvalidHandleError):
        image.to_pixel_box((0, 0, 10, 10))


def test_trace_matches_the_upstream_stages(model, manifest, tmp_path):
    case = manifest["prompts_merged_fp32"]["single"]
    model.trace(image_path(case["images"][0]), case["user_prompt"], tmp_path)
    ids = np.load(tmp_path / "prompt_ids.npy")
    assert ids.tolist() == np.load(GOLDEN / case["input_ids"]).tolist()
    assert (ids == -1).sum() == model.info.visual_tokens_per_image
    logits = np.load(tmp_path / "logits.npy")
    np.testing.assert_allclose(logits, np.load(GOLDEN / case["logits"]).reshape(logits.shape), atol=1e-3)
    with pytest.raises(m4cxr.NotFoundError, match="does not exist"):
        model.trace([], "Hello", tmp_path / "missing")
    with pytest.raises(m4cxr.InvalidArgumentError, match="marker"):
        model.trace([], case["user_prompt"], tmp_path)


def test_reference_struct_layouts_match_the_library():
    """capi_ref's ctypes structs are as large as the library's: *_init accepts their size
    and fills exactly that much."""
    import ctypes as C

    import capi_ref
    lib = capi_ref.library()
    for struct, fill in [(capi_ref.ModelOptions, lib.m4cxr_model_options_init),
                         (capi_ref.GenerationOptions, lib.m4cxr_generation_options_init)]:
        buf = (C.c_ubyte * (C.sizeof(struct) + 64))(*([0xAB] * (C.sizeof(struct) + 64)))
        assert fill(buf, C.c_size_t(C.sizeof(struct))) == 0, struct.__name__
        assert int.from_bytes(bytes(buf[:8]), sys.byteorder) == C.sizeof(struct), struct.__name__
        assert bytes(buf[C.sizeof(struct):]) == b"\xab" * 64
        assert fill(buf, C.c_size_t(C.sizeof(struct) + 8)) != 0  # a newer layout than the library's


# A program built against the 0.1 header calls the exported m4cxr_*_options_default
# symbol (ctypes does the same): it must write the 0.1 layout only.
def test_initialisers_stay_inside_a_struct_of_the_first_published_layout():
    import ctypes as C

    import capi_ref
    lib = capi_ref.library()
    v1 = capi_ref.GenerationOptions.continue_conversation.offset  # the 0.1 layout ends before it
    buf = (C.c_ubyte * 64)(*([0xAB] * 64))
    lib.m4cxr_generation_options_default(buf)
    assert bytes(buf[v1:]) == b"\xab" * (64 - v1)


def test_a_file_given_as_the_model_folder_says_what_is_wrong():
    with pytest.raises(m4cxr.FileError, match="is a file") as e:
        m4cxr.Model(MODEL_DIR / "config.json")
    assert not isinstance(e.value, FileNotFoundError)
