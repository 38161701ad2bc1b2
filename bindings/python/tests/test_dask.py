"""m4cxr.dask: worklists on a Dask cluster (ctest python_dask): a LocalCluster of 2 worker
processes with one killed mid-run still writes every id exactly once."""
import json
import os
import pathlib
import subprocess
import sys
import shutil
import signal
import threading
import time

import distributed

import m4cxr
import m4cxr.dask
from conftest import MODEL_DIR, image_path


def worklist(folder, n):
    shutil.copy(image_path("rgb_150x200.jpg"), folder / "front.jpg")
    kinds = [{"task": "ground", "image": "front.jpg", "phrase": "left effusion"},
             {"task": "classify", "image": "front.jpg"},
             {"task": "vqa", "image": "front.jpg", "question": "Is there edema?"}]
    lines = [{"id": f"study-{k}", **kinds[k % len(kinds)]} for k in range(n)]
    path = folder / "studies.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path, [x["id"] for x in lines]


def read_output(path):
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the output ends inside a line"
    return [json.loads(line) for line in data.decode().split("\n") if line]


def test_a_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(tmp_path):
    manifest, ids = worklist(tmp_path, 150)
    out = tmp_path / "results.jsonl"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)  # worker address -> pid
        assert len(pids) == 2
        killed = {}

        def kill_one_worker_mid_run():
            deadline = time.time() + 120
            while time.time() < deadline:
                if out.exists() and out.read_bytes().count(b"\n") >= 5:
                    address, pid = sorted(pids.items())[0]
                    killed["lines_before"] = out.read_bytes().count(b"\n")
                    killed["processing"] = len(client.processing()[address])
                    os.kill(pid, signal.SIGKILL)
                    killed["pid"] = pid
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_one_worker_mid_run)
        killer.start()
        summary = m4cxr.dask.run(manifest, out, scheduler=cluster.scheduler_address, model=MODEL_DIR, dtype="float32",
                                 max_new_tokens=48, progress=False)
        killer.join()
        assert "pid" in killed, "no worker was killed"
        assert killed["lines_before"] < len(ids) and killed["processing"] > 0, killed
        assert killed["pid"] not in client.run(os.getpid).values()
    rows = read_output(out)
    assert sorted(r["id"] for r in rows) == sorted(ids), "every id exactly once"
    assert not [r for r in rows if "error" in r]
    assert (summary.ran, summary.errors, summary.skipped) == (len(ids), 0, 0)
    assert {r["task"] for r in rows} == {"ground_phrase", "classify", "vqa"}


def test_without_a_scheduler_it_starts_a_local_cluster_and_resumes(tmp_path):
    manifest, ids = worklist(tmp_path, 12)
    out = tmp_path / "results.jsonl"
    out.write_text("".join(json.dumps({"id": i, "line": k + 1, "text": "done before"}) + "\n"
                           for k, i in enumerate(ids[:4])) + '{"id": "study-4", "li')
    # m4cxr found through sys.path only, not PYTHONPATH: run() passes its folder to the workers it starts
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import m4cxr.dask; "
            "s = m4cxr.dask.run(sys.argv[2], sys.argv[3], model=sys.argv[4], n_workers=2, dtype='float32', "
            "max_new_tokens=8, progress=False); print(s.ran, s.skipped)")
    package_root = str(pathlib.Path(m4cxr.__file__).resolve().parent.parent)
    p = subprocess.run([sys.executable, "-c", code, package_root, str(manifest), str(out), str(MODEL_DIR)], env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["8", "4"], p.stdout
    rows = read_output(out)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert [r["text"] for r in rows[:4]] == ["done before"] * 4
    assert all(r["replay"]["options"]["max_new_tokens"] == 8 for r in rows[4:])


def test_a_model_that_no_worker_can_load_stops_the_run_before_any_line(tmp_path):
    manifest, _ = worklist(tmp_path, 3)
    out = tmp_path / "results.jsonl"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        try:
            m4cxr.dask.run(manifest, out, scheduler=cluster.scheduler_address, model=tmp_path / "no-model",
                           progress=False)
        except Exception as e:  # the worker's load error, raised by the plugin registration
            assert "no-model" in str(e), e
        else:
            raise AssertionError("the run went on without a model")
    assert out.read_bytes() == b""
