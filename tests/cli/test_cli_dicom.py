#!/usr/bin/env python3
"""`m4cxr report --dicom` / `--prior-dicom` on the tiny golden model with synthetic DICOM
studies made by make_test_dicom (no patient data).

Usage: test_cli_dicom.py PATH_TO_m4cxr PATH_TO_make_test_dicom GOLDEN_DIR.
Prints 'N passed, N failed' and exits non-zero on failure."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

CLI, MAKE, GOLDEN = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(GOLDEN, "models", "merged_fp32")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cases import case, finish  # noqa: E402
TMP = tempfile.mkdtemp(prefix="m4cxr_cli_dicom_")
atexit.register(shutil.rmtree, TMP, True)  # the files go with the run


def make(path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([MAKE, path] + [f"{k}={v}" for k, v in kw.items()], check=True)
    return path


def run(args):
    p = subprocess.run([CLI] + args, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


CUR = os.path.join(TMP, "current")
PRIOR = os.path.join(TMP, "prior")
# file order: lateral first, then AP, then PA (in a sub-folder); the report wants PA, AP, lateral
make(os.path.join(CUR, "1_lat.dcm"), view="LL", sop_uid="1.2.826.0.1.3680043.10.1234.5.1", seed=1)
make(os.path.join(CUR, "2_ap.dcm"), view="AP", sop_uid="1.2.826.0.1.3680043.10.1234.5.2", seed=2,
     ts="1.2.840.10008.1.2.4.80")
make(os.path.join(CUR, "series", "3_pa.dcm"), view="PA", sop_uid="1.2.826.0.1.3680043.10.1234.5.3", seed=3,
     ts="1.2.840.10008.1.2.4.90")
open(os.path.join(CUR, "notes.txt"), "w").write("not DICOM: skipped\n")
make(os.path.join(PRIOR, "p.dcm"), view="PA", study_uid="1.2.826.0.1.3680043.10.1234.4", study_date="20190101",
     sop_uid="1.2.826.0.1.3680043.10.1234.4.1", seed=4)


@case
def report_orders_views_and_reports_identifiers():
    rc, out, err = run(["report", "--model", MODEL, "--dicom", CUR, "--max-new-tokens", "4", "--json"])
    assert rc == 0, err
    j = json.loads(out)
    assert [os.path.basename(p) for p in j["images"]] == ["3_pa.dcm", "2_ap.dcm", "1_lat.dcm"], j["images"]
    assert [d["view"] for d in j["dicom"]] == ["PA", "AP", "LATERAL"], j["dicom"]
    assert j["dicom"][0]["sop_instance_uid"] == "1.2.826.0.1.3680043.10.1234.5.3"
    conv = [d["conversion"] for d in j["replay"]["dicom"]]
    assert [c["conversion"] for c in conv] == ["mimic_jpg"] * 3
    assert conv[0]["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.90"
    assert "view PA" in err and "view LATERAL" in err


@case
def conversion_option_reaches_the_record():
    rc, out, err = run(["report", "--model", MODEL, "--dicom", CUR, "--max-new-tokens", "2", "--json",
                        "--dicom-conversion", "min_max"])
    assert rc == 0, err
    assert all(d["conversion"]["conversion"] == "min_max" for d in json.loads(out)["replay"]["dicom"])


@case
def prior_study_makes_a_followup_report():
    rc, out, err = run(["report", "--model", MODEL, "--dicom", CUR, "--prior-dicom", PRIOR,
                        "--prior-report", "No acute cardiopulmonary process.", "--max-new-tokens", "3", "--json"])
    assert rc == 0, err
    j = json.loads(out)
    assert j["task"] == "report_followup", j.get("task")
    assert [d["view"] for d in j["dicom"]] == ["PA", "PA", "AP", "LATERAL"], j["dicom"]  # prior first
    assert j["dicom"][0]["study_instance_uid"] == "1.2.826.0.1.3680043.10.1234.4"


@case
def prior_that_is_not_earlier_is_refused():
    rc, out, err = run(["report", "--model", MODEL, "--dicom", PRIOR, "--prior-dicom", CUR,
                        "--prior-report", "x", "--max-new-tokens", "3"])
    assert rc == 3 and "not earlier" in err, (rc, err)


@case
def two_studies_in_one_folder_are_refused():
    mixed = os.path.join(TMP, "mixed")
    make(os.path.join(mixed, "a.dcm"), seed=5)
    make(os.path.join(mixed, "b.dcm"), study_uid="1.2.826.0.1.3680043.10.1234.77", seed=6)
    rc, _, err = run(["report", "--model", MODEL, "--dicom", mixed, "--max-new-tokens", "3"])
    assert rc == 3 and "more than one study" in err, (rc, err)


@case
def unreadable_and_refused_inputs():
    rc, _, err = run(["report", "--model", MODEL, "--dicom", os.path.join(TMP, "missing")])
    assert rc == 3 and "cannot open DICOM" in err, (rc, err)
    empty = os.path.join(TMP, "empty")
    os.makedirs(empty, exist_ok=True)
    rc, _, err = run(["report", "--model", MODEL, "--dicom", empty])
    assert rc == 3 and "no DICOM" in err, (rc, err)
    ct = make(os.path.join(TMP, "ct", "ct.dcm"), modality="CT")
    rc, _, err = run(["report", "--model", MODEL, "--dicom", ct, "--max-new-tokens", "2"])
    assert rc == 3 and "'CT'" in err, (rc, err)
    rc, _, err = run(["report", "--model", MODEL, "--dicom", ct, "--dicom-allow", "modality", "--max-new-tokens", "2"])
    assert rc == 0, err
    bad = os.path.join(TMP, "bad.dcm")
    data = open(os.path.join(CUR, "1_lat.dcm"), "rb").read()
    open(bad, "wb").write(data[: len(data) // 2])
    rc, _, err = run(["report", "--model", MODEL, "--dicom", bad])
    assert rc == 3 and "bad.dcm" in err, (rc, err)


@case
def usage_errors():
    for args, text in ((["--dicom", CUR, "--image", "x.png"], "cannot be combined"),
                       (["--dicom", CUR, "--dicom-conversion", "pretty"], "--dicom-conversion"),
                       (["--dicom", CUR, "--dicom-allow", "everything"], "--dicom-allow")):
        rc, _, err = run(["report", "--model", MODEL] + args)
        assert rc == 2 and text in err, (args, rc, err)


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "report"))
from validate_reports import document_text, validate_fhir, validate_sr  # noqa: E402  FHIR R4 schema; dciodvfy + dsrdump


@case
def two_views_and_a_prior_to_fhir_and_sr():
    """Issue 13: a two-view study and a prior study through `m4cxr report --dicom` to a FHIR
    bundle and a DICOM SR that pass their validators and refer to the current study."""
    two = os.path.join(TMP, "two_views")
    make(os.path.join(two, "pa.dcm"), view="PA", sop_uid="1.2.826.0.1.3680043.10.1234.6.1", seed=7)
    make(os.path.join(two, "lat.dcm"), view="LL", sop_uid="1.2.826.0.1.3680043.10.1234.6.2", seed=8)
    fhir, sr = os.path.join(TMP, "followup.json"), os.path.join(TMP, "followup.dcm")
    rc, out, err = run(["report", "--model", MODEL, "--dicom", two, "--prior-dicom", PRIOR, "--prior-report",
                        "No acute cardiopulmonary process.", "--max-new-tokens", "6", "--json", "--fhir", fhir,
                        "--sr", sr])
    assert rc == 0, err
    j = json.loads(out)
    assert j["fhir"] == fhir and j["sr"] == sr
    bundle = validate_fhir(fhir)
    report = bundle["entry"][0]["resource"]
    assert report["imagingStudy"][0]["identifier"]["value"] == "urn:oid:1.2.826.0.1.3680043.10.1234.1"
    assert report["code"]["coding"][0]["code"] == "36643-5"
    assert report.get("conclusion", "") == document_text(j["text"]), (report.get("conclusion"), j["text"])
    observed = [e["resource"]["code"]["text"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observed == list(j["label_scores"]), (observed, j["label_scores"])  # the 13 CheXbert findings
    validate_sr(sr)
    full = subprocess.run(["dcmdump", sr], capture_output=True, text=True).stdout
    current = full.split("(0040,a375)")[1].split("(0040,a385)")[0]
    assert "1.2.826.0.1.3680043.10.1234.6.1" in current and "1.2.826.0.1.3680043.10.1234.6.2" in current
    assert "1.2.826.0.1.3680043.10.1234.4.1" in full.split("(0040,a385)")[1]


@case
def grounded_organ_boxes_become_sr_regions():
    one = os.path.join(CUR, "series", "3_pa.dcm")
    fhir, sr = os.path.join(TMP, "organ.json"), os.path.join(TMP, "organ.dcm")
    rc, out, err = run(["ground", "--organ", "lung", "--model", MODEL, "--dicom", one, "--constrained",
                        "--max-new-tokens", "40", "--json", "--fhir", fhir, "--sr", sr])
    assert rc == 0, err
    j = json.loads(out)
    validate_fhir(fhir)
    assert j["boxes"], j["text"]  # constrained organ grounding always writes boxes
    listing = validate_sr(sr)
    assert listing.count("SCOORD") == len(j["boxes"]), (listing, j["boxes"])
    assert "POLYLINE" in listing and "selected from IMAGE" in listing
    x1, y1 = j["boxes"][0]["pixels"][:2]
    assert f"(POLYLINE,{x1:g}/{y1:g}," in listing, (listing, j["boxes"][0])
    regions = [x for e in json.load(open(fhir))["entry"] for x in e["resource"].get("extension", [])]
    assert len(regions) == len(j["boxes"])


@case
def fhir_and_sr_usage_errors():
    rc, _, err = run(["chat", "--model", MODEL, "--fhir", os.path.join(TMP, "x.json")])
    assert rc == 2 and "--fhir" in err, (rc, err)
    rc, _, err = run(["report", "--model", MODEL, "--dicom", CUR, "--max-new-tokens", "2", "--sr",
                      os.path.join(TMP, "no", "such", "dir", "x.dcm")])
    assert rc != 0 and "cannot write the DICOM SR" in err, (rc, err)


finish()
