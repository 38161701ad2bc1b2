"""Result.to_fhir() / Result.to_dicom_sr() (issue 13, part 7): a two-view DICOM study's
report as a FHIR R4 bundle and a DICOM SR, checked by the same validators as the C++ and
CLI tests (the FHIR R4 JSON schema; dciodvfy and dsrdump)."""
import base64
import dataclasses
import json
import os
import sys

import m4cxr
from conftest import image_path
from test_dicom import dicom_bytes, synthetic

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "report"))
from validate_reports import document_text, validate_fhir, validate_sr  # noqa: E402


def test_two_view_report_to_fhir_and_sr(model, session, tmp_path):
    study = "1.2.826.0.1.3680043.10.1234.9"
    pa = model.dicom(dicom_bytes(synthetic(7), view="PA", study=study, sop=study + ".1.1"))
    lat = model.dicom(dicom_bytes(synthetic(8), view="LL", study=study, sop=study + ".1.2"))
    result = session.report([pa, lat], max_new_tokens=4)
    fhir = result.to_fhir()
    assert fhir == result.to_fhir(), "made once, when the result was collected"
    path = tmp_path / "report.json"
    path.write_text(fhir, encoding="utf-8")
    bundle = validate_fhir(str(path))
    report = bundle["entry"][0]["resource"]
    assert report["imagingStudy"][0]["identifier"]["value"] == "urn:oid:" + study
    assert report["subject"]["identifier"]["value"] == "SYNTH-PY"
    if result.text:
        assert base64.b64decode(report["presentedForm"][0]["data"]).decode() == document_text(result.text)
    observed = [e["resource"]["code"]["text"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observed == list(result.label_scores)

    sr = result.to_dicom_sr()
    assert sr[128:132] == b"DICM" and study.encode() in sr and (study + ".1.2").encode() in sr
    sr_path = tmp_path / "report.dcm"
    sr_path.write_bytes(sr)
    listing = validate_sr(str(sr_path))
    assert "Diagnostic Imaging Report" in listing
    # The documents (new UIDs each time they are made) do not take part in comparisons.
    assert dataclasses.replace(result, _fhir="", _dicom_sr=b"") == result


def test_non_dicom_result_has_no_subject(model, session):
    result = session.classify(model.image(image_path("gray8_73x101.png")), ["edema", "nodule"], max_new_tokens=8)
    report = json.loads(result.to_fhir())["entry"][0]["resource"]
    assert "subject" not in report and "imagingStudy" not in report
    assert len(report["result"]) == 2
    assert result.to_dicom_sr()[128:132] == b"DICM"
