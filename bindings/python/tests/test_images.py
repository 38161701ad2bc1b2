"""Image inputs: paths, bytes, numpy arrays and PIL images give the hash of the file
they show; geometry helpers; decoding errors."""
import pathlib

import numpy as np
import pytest
from PIL import Image as PILImage

import m4cxr
from conftest import image_path


def test_path_bytes_and_size(model):
    path = image_path("gray8_73x101.png")
    a = model.image(path)
    b = model.image(pathlib.Path(path).read_bytes())
    c = model.image(pathlib.Path(path))
    assert a.size == (73, 101) and (a.width, a.height) == (73, 101)
    assert len(a.hash) == 64 and a.hash == b.hash == c.hash
    assert model.image(a) is a


@pytest.mark.parametrize("name", ["gray8_70x70.png", "gray8_73x101.png", "rgb_640x512.png", "rgba_60x45.png",
                                  "gray16_200x150.png", "rgb_150x200.jpg"])
def test_pil_and_numpy_inputs_hash_like_the_file(model, name):
    want = model.image(image_path(name)).hash
    with PILImage.open(image_path(name)) as pil:
        assert model.image(pil).hash == want, pil.mode
        if pil.mode in ("L", "RGB"):
            assert model.image(np.asarray(pil)).hash == want


def test_uint16_and_rgb_arrays(model):
    with PILImage.open(image_path("gray8_73x101.png")) as pil:
        gray8 = np.asarray(pil)
    assert gray8.dtype == np.uint8 and gray8.ndim == 2
    want = model.image(gray8).hash
    gray16 = gray8.astype(np.uint16) * 257  # round(v * 257 / 257) == v
    assert model.image(gray16).hash == want
    assert model.image(gray16.astype(">u2")).hash == want  # byte-swapped input
    rgb = np.stack([gray8] * 3, axis=-1)
    assert model.image(rgb).hash == want  # gray is decoded to equal RGB channels
    assert model.image(rgb.astype(np.uint16) * 257).hash == want
    assert model.image(gray8[:, :, None]).hash == want
    assert model.image(np.asfortranarray(gray8)).hash == want  # non-contiguous input is copied
    bigger = np.zeros((101, 80), np.uint8)
    bigger[:, :73] = gray8
    assert model.image(bigger[:, :73]).hash == want  # a strided view
    assert model.image(gray8[:, :-1]).size == (72, 101)


def test_bad_inputs(model, tmp_path):
    with pytest.raises(m4cxr.FormatError) as e:
        model.image(b"\x89PNG\x01\x02\x03")
    assert isinstance(e.value, ValueError) and e.value.status == m4cxr.Status.FORMAT
    assert "PNG" in str(e.value)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(pathlib.Path(image_path("gray8_70x70.png")).read_bytes()[:60])
    with pytest.raises(m4cxr.FormatError) as e:
        model.image(corrupt)
    assert str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        model.image(tmp_path / "missing.png")
    assert isinstance(e.value, m4cxr.NotFoundError) and "missing.png" in str(e.value)
    with pytest.raises(m4cxr.InvalidArgumentError):
        model.image(np.zeros((4, 4), np.float32))
    with pytest.raises(m4cxr.InvalidArgumentError):
        model.image(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(m4cxr.InvalidArgumentError):
        model.image(b"")
    with pytest.raises(TypeError):
        model.image(42)


def test_box_geometry(model):
    im = model.image(image_path("rgb_150x200.jpg"))  # portrait: S = 150, crop offset 25 on y
    assert im.to_model_box((30, 40, 120, 160)) == (20, 10, 80, 90)
    px = im.to_pixel_box((20, 10, 80, 90))
    assert all(isinstance(v, float) for v in px)
    assert im.to_model_box(px) == (20, 10, 80, 90)
    im.close()
    assert im.closed
    with pytest.raises(m4cxr.InvalidHandleError):
        im.to_model_box((0, 0, 1, 1))
