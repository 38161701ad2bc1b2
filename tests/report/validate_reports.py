#!/usr/bin/env python3
"""Validators for m4cxr's structured reports, and a test of the writers on made-up results.

validate_fhir(path): the bundle against HL7's FHIR R4 JSON schema (tests/data/fhir, with
Debian's python3-jsonschema), plus what m4cxr promises (a preliminary radiology
DiagnosticReport, every Observation it lists present, AIAST security labels, a Device).
validate_sr(path): the DICOM SR with dicom3tools' dciodvfy (no "Error" line: the IOD and
its modules) and DCMTK's dsrdump (the document and its content tree, relationship
constraints of Comprehensive SR included); returns dsrdump's listing.
Both raise AssertionError with the validator's messages.

Usage: validate_reports.py PATH_TO_make_test_reports
Prints 'N passed, N failed' and exits non-zero on failure."""
import atexit
import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "data", "fhir", "fhir.schema.json.gz")
AIAST = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")
_validator = None


def document_text(text):
    """What the documents carry of a text (src/report/structured_report.h document_text):
    control characters but tab, LF and CR as U+FFFD, Unicode spaces as ' '."""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", "\ufffd", text)
    return re.sub(r"[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]", " ", text)


def fhir_schema_errors(doc):
    global _validator
    if _validator is None:
        import jsonschema  # Debian: python3-jsonschema
        with gzip.open(SCHEMA) as f:
            _validator = jsonschema.Draft6Validator(json.load(f))
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in _validator.iter_errors(doc)]
    if errors and doc.get("resourceType") == "Bundle":
        # The schema is a oneOf over every resource type, whose message says little: name
        # what is wrong by validating each resource against its own type's definition.
        import jsonschema
        for i, entry in enumerate(doc.get("entry", [])):
            resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
            one = {"$ref": "#/definitions/" + str(resource.get("resourceType")),
                   "definitions": _validator.schema["definitions"]}
            errors += [f"entry {i} {resource.get('resourceType')} {list(e.absolute_path)}: {e.message[:200]}"
                       for e in jsonschema.Draft6Validator(one).iter_errors(resource)]
    return errors


def ai_asserted(resource):
    return any((s.get("system"), s.get("code")) == AIAST for s in resource.get("meta", {}).get("security", []))


def validate_fhir(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    errors = fhir_schema_errors(doc)
    assert not errors, f"{path}: FHIR R4 schema: " + "; ".join(errors[:5])
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    resources = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    reports = [r for r in resources.values() if r["resourceType"] == "DiagnosticReport"]
    assert len(reports) == 1, "one DiagnosticReport"
    report = reports[0]
    assert report["status"] in ("preliminary", "partial")
    assert report["category"][0]["coding"][0]["code"] == "RAD"
    assert report["code"]["coding"][0]["system"] == "http://loinc.org"
    assert ai_asserted(report), "DiagnosticReport lacks the AIAST label"
    form = report["presentedForm"][0]
    assert form["contentType"].startswith("text/plain")
    if "data" in form:
        assert base64.b64decode(form["data"]).decode("utf-8") == report["conclusion"]
    devices = [r for r in resources.values() if r["resourceType"] == "Device"]
    assert len(devices) == 1 and devices[0]["version"][0]["value"], "a Device with the engine version"
    for ref in report.get("result", []):
        obs = resources[ref["reference"]]
        assert obs["resourceType"] == "Observation" and ai_asserted(obs)
        assert resources[obs["device"]["reference"]]["resourceType"] == "Device"
        assert obs["valueCodeableConcept"]["coding"][0]["code"] in ("52101004", "2667000")
    return doc


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def validate_sr(path):
    rc, out = run(["dciodvfy", path])
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    assert rc == 0 and not errors and "ComprehensiveSR" in out, f"{path}: dciodvfy: rc {rc}\n{out}"
    rc, listing = run(["dsrdump", path])
    bad = [line for line in listing.splitlines() if line.startswith(("E:", "F:"))]
    assert rc == 0 and not bad, f"{path}: dsrdump: rc {rc}\n{listing}"
    return listing


def dump(path):
    return run(["dcmdump", "+P", "0020,000d", "+P", "0010,0020", "+P", "0040,a491", path])[1]


if __name__ == "__main__":
    MAKE = sys.argv[1]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
    from cases import case, finish

    TMP = tempfile.mkdtemp(prefix="m4cxr_reports_")
    atexit.register(shutil.rmtree, TMP, True)  # the files go with the run
    subprocess.run([MAKE, TMP], check=True)

    def p(name):
        return os.path.join(TMP, name)

    @case
    def grounded_fhir_has_study_patient_score_and_box():
        doc = validate_fhir(p("grounded.json"))
        res = [e["resource"] for e in doc["entry"]]
        assert res[0]["resourceType"] == "DiagnosticReport", "the report comes first"
        report = res[0]
        assert report["imagingStudy"][0]["identifier"] == {"system": "urn:dicom:uid",
                                                           "value": "urn:oid:1.2.826.0.1.3680043.10.1234.1"}
        assert report["subject"]["identifier"]["value"] == "SYNTH-0001"
        assert report["code"]["coding"][0]["code"] == "18748-4", "one view"
        assert report["issued"] == "2026-01-02T03:04:05Z" and report["effectiveDateTime"] == "2020-01-01"
        obs = {o["code"]["text"]: o for o in res if o["resourceType"] == "Observation"}
        assert set(obs) == {"Cardiomegaly", "Pleural Effusion"}
        cm = obs["Cardiomegaly"]
        assert cm["valueCodeableConcept"]["coding"][0]["display"] == "Present"
        assert cm["component"][0]["valueQuantity"]["value"] == 0.91
        boxes = [{x["url"]: list(x.values())[1] for x in ext["extension"]} for ext in cm["extension"]]
        assert len(boxes) == 2 and boxes[0]["x1"] == 24.5 and boxes[0]["y2"] == 150
        assert boxes[0]["sopInstanceUid"] == "urn:oid:1.2.826.0.1.3680043.10.1234.1.1.1"
        assert obs["Pleural Effusion"]["valueCodeableConcept"]["coding"][0]["display"] == "Absent"

    @case
    def grounded_sr_has_polyline_on_the_source_image():
        listing = validate_sr(p("grounded.dcm"))
        assert 'CODE:(,,"Cardiomegaly")=(52101004,SCT,"Present")' in listing, listing
        assert "(POLYLINE,24.5/60," in listing and "selected from IMAGE" in listing, listing
        d = dump(p("grounded.dcm"))
        assert "1.2.826.0.1.3680043.10.1234.1.1.1" in run(["dcmdump", p("grounded.dcm")])[1], "source SOP referenced"
        assert "1.2.826.0.1.3680043.10.1234.1]" in d and "SYNTH-0001" in d and "COMPLETE" in d, d

    @case
    def followup_refers_to_the_current_study_and_the_prior_as_other_evidence():
        doc = validate_fhir(p("followup.json"))
        report = doc["entry"][0]["resource"]
        assert report["imagingStudy"][0]["identifier"]["value"] == "urn:oid:1.2.826.0.1.3680043.10.1234.5"
        assert report["code"]["coding"][0]["code"] == "36643-5", "two views: XR Chest 2 Views"
        assert "Ünïcode ✓" in base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
        validate_sr(p("followup.dcm"))
        full = run(["dcmdump", p("followup.dcm")])[1]
        cur = full.split("(0040,a375)")[1].split("(0040,a385)")[0]
        prior = full.split("(0040,a385)")[1]
        assert "1.2.826.0.1.3680043.10.1234.5.1.1" in cur and "1.2.826.0.1.3680043.10.1234.5.2.1" in cur, cur
        assert "1.2.826.0.1.3680043.10.1234.4.1.1" in prior and "1.2.826.0.1.3680043.10.1234.4.1.1" not in cur

    @case
    def cancelled_non_dicom_result_is_partial_without_subject():
        doc = validate_fhir(p("plain.json"))
        report = doc["entry"][0]["resource"]
        assert report["status"] == "partial" and "subject" not in report and "imagingStudy" not in report
        assert "data" not in report["presentedForm"][0], "empty text: no base64 data"
        validate_sr(p("plain.dcm"))
        assert "PARTIAL" in dump(p("plain.dcm"))

    @case
    def unreferable_dicom_image_gives_a_valid_sr_without_regions():
        validate_fhir(p("sparse.json"))
        listing = validate_sr(p("sparse.dcm"))
        assert "SCOORD" not in listing and 'CODE:(,,"edema")' in listing, listing

    # The validators must be able to fail.
    @case
    def fhir_validator_refuses_an_invalid_bundle():
        with open(p("grounded.json"), encoding="utf-8") as f:
            doc = json.load(f)
        doc["entry"][0]["resource"]["status"] = "guessed"  # not in the status value set
        doc["entry"][0]["resource"]["issued"] = "yesterday"
        errors = fhir_schema_errors(doc)
        assert errors, "the schema accepted a bad status and issued"

    @case
    def sr_validators_refuse_invalid_files():
        bad_tree, no_study = p("bad_tree.dcm"), p("no_study.dcm")
        for dst in (bad_tree, no_study):
            with open(p("grounded.dcm"), "rb") as s, open(dst, "wb") as d:
                d.write(s.read())
        # CONTAINER -> has properties -> CONTAINER is not allowed in Comprehensive SR
        subprocess.run(["dcmodify", "-nb", "-m", "(0040,A730)[5].(0040,A010)=HAS PROPERTIES", bad_tree], check=True)
        subprocess.run(["dcmodify", "-nb", "-ea", "(0020,000D)", no_study], check=True)
        for bad in (bad_tree, no_study):
            try:
                validate_sr(bad)
            except AssertionError:
                continue
            raise AssertionError(f"{bad} passed validation")

    finish()
