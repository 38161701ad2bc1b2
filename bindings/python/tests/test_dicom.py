"""DICOM input from Python (Model.dicom, Image.dicom, order_study): files are written
here by a minimal explicit VR little endian Part-10 writer (synthetic pixels, made-up
identifiers), and the pixels are checked against a numpy computation of the conversion."""
import json
import struct

import numpy as np
import pytest

import m4cxr
from conftest import image_path

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _element(group, elem, vr, value):
    if isinstance(value, str):
        value = value.encode("ascii")
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def dicom_bytes(pixels, photometric="MONOCHROME2", modality="DX", view="PA", study="1.2.826.0.1.3680043.10.1234.7",
                sop="1.2.826.0.1.3680043.10.1234.7.1.1", patient="SYNTH-PY", date="20210303", bits_stored=12):
    """A Part-10 file holding uint16 `pixels` (rows x columns), elements in tag order."""
    rows, cols = pixels.shape
    meta = (_element(0x0002, 0x0001, "OB", b"\0\1") + _element(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.1.1")
            + _element(0x0002, 0x0003, "UI", sop) + _element(0x0002, 0x0010, "UI", EXPLICIT_LE))
    ds = [
        (0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.1.1"), (0x0008, 0x0018, "UI", sop),
        (0x0008, 0x0020, "DA", date), (0x0008, 0x0060, "CS", modality), (0x0010, 0x0020, "LO", patient),
        (0x0018, 0x5101, "CS", view), (0x0020, 0x000D, "UI", study), (0x0020, 0x000E, "UI", study + ".1"),
        (0x0028, 0x0002, "US", struct.pack("<H", 1)), (0x0028, 0x0004, "CS", photometric),
        (0x0028, 0x0010, "US", struct.pack("<H", rows)), (0x0028, 0x0011, "US", struct.pack("<H", cols)),
        (0x0028, 0x0100, "US", struct.pack("<H", 16)), (0x0028, 0x0101, "US", struct.pack("<H", bits_stored)),
        (0x0028, 0x0102, "US", struct.pack("<H", bits_stored - 1)), (0x0028, 0x0103, "US", struct.pack("<H", 0)),
        (0x7FE0, 0x0010, "OW", pixels.astype("<u2").tobytes()),
    ]
    body = b"".join(_element(*e) for e in ds)
    return b"\0" * 128 + b"DICM" + _element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta))) + meta + body


def synthetic(seed, rows=24, cols=30):
    rng = np.random.default_rng(seed)
    p = (np.add.outer(np.arange(rows), np.arange(cols)) * 60 + rng.integers(0, 400, (rows, cols))).astype(np.uint16)
    p[0, 0], p[-1, -1] = 5, 4000
    return p


def min_max(pixels, monochrome1=False):
    m = pixels.astype(np.float64)
    y = np.floor(255.0 * (m - m.min()) / (m.max() - m.min()) + 0.5).astype(np.uint8)
    return 255 - y if monochrome1 else y


def equalize(gray):
    """OpenCV equalizeHist: float32 scale, round half to even."""
    hist = np.bincount(gray.ravel(), minlength=256)
    lo = int(np.nonzero(hist)[0][0])
    cdf = np.cumsum(hist)
    scale = np.float32(255.0) / np.float32(gray.size - hist[lo])
    lut = np.clip(np.rint((cdf - hist[lo]).astype(np.float32) * scale), 0, 255).astype(np.uint8)
    lut[lo] = 0
    return lut[gray]


def test_bytes_and_path_keep_identifiers(model, tmp_path):
    data = dicom_bytes(synthetic(1), view="LL")
    a = model.dicom(data)
    f = tmp_path / "a.dcm"
    f.write_bytes(data)
    b = model.dicom(f)
    assert a.hash == b.hash and a.size == (30, 24)
    d = a.dicom
    assert isinstance(d, m4cxr.DicomInfo)
    assert (d.patient_id, d.view_position, d.view, d.modality) == ("SYNTH-PY", "LL", "LATERAL", "DX")
    assert d.sop_instance_uid == "1.2.826.0.1.3680043.10.1234.7.1.1"
    assert d.study_instance_uid == "1.2.826.0.1.3680043.10.1234.7"
    assert (d.transfer_syntax_uid, d.conversion) == (EXPLICIT_LE, "mimic_jpg")
    assert model.image(image_path("gray8_73x101.png")).dicom is None


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize("conversion", ["mimic_jpg", "min_max", "voi"])
def test_pixels_match_a_numpy_computation(model, photometric, conversion):
    pixels = synthetic(2)
    im = model.dicom(dicom_bytes(pixels, photometric=photometric), conversion=conversion)
    expected = min_max(pixels, photometric == "MONOCHROME1")
    if conversion == "mimic_jpg":
        expected = equalize(expected)
    # the same gray pixels through the raw-pixel path give the same image hash
    assert im.hash == model.image(expected).hash
    assert im.dicom.conversion == ("min_max" if conversion == "voi" else conversion)  # no window in the file


def test_refusals_and_overrides(model):
    data = dicom_bytes(synthetic(3))
    with pytest.raises(m4cxr.FormatError):
        model.dicom(data[: len(data) // 2])
    with pytest.raises(m4cxr.FormatError):
        model.dicom(b"\0" * 200)
    ct = dicom_bytes(synthetic(3), modality="CT")
    with pytest.raises(m4cxr.UnsupportedError, match="allow_any_modality"):
        model.dicom(ct)
    assert model.dicom(ct, allow_any_modality=True).dicom.modality == "CT"
    with pytest.raises(m4cxr.InvalidArgumentError):
        model.dicom(data, conversion="pretty")
    with pytest.raises(m4cxr.NotFoundError):
        model.dicom("/nonexistent/x.dcm")
    with pytest.raises(TypeError):
        model.dicom(42)


def test_order_study_and_report_json(model, session):
    lat = model.dicom(dicom_bytes(synthetic(4), view="LL", sop="1.2.826.0.1.3680043.10.1234.7.1.2"))
    pa = model.dicom(dicom_bytes(synthetic(5), view="PA", sop="1.2.826.0.1.3680043.10.1234.7.1.3"))
    prior = model.dicom(dicom_bytes(synthetic(6), study="1.2.826.0.1.3680043.10.1234.6", date="20200101",
                                    sop="1.2.826.0.1.3680043.10.1234.6.1.1"))
    views, before = m4cxr.order_study([lat, pa], [prior])
    assert [v.dicom.view for v in views] == ["PA", "LATERAL"]
    assert before == [prior]
    with pytest.raises(m4cxr.InvalidArgumentError, match="not earlier"):
        m4cxr.order_study([prior], [lat])
    with pytest.raises(m4cxr.InvalidArgumentError, match="more than one study"):
        m4cxr.order_study([lat, prior])
    result = session.report(views, max_new_tokens=3)
    doc = result.to_dict()
    assert [d["sop_instance_uid"] for d in doc["dicom"]] == [pa.dicom.sop_instance_uid, lat.dicom.sop_instance_uid]
    assert doc["replay"]["dicom"][0]["conversion"]["histogram_equalized"] is True
    json.dumps(doc)
