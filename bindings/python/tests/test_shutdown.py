"""The interpreter may exit while daemon threads are inside m4cxr calls (a notebook
kernel shutting down, a script that ends without joining its workers): the process must
exit normally, not abort."""
import os
import subprocess
import sys
import textwrap

from conftest import MODEL_DIR, image_path

SCRIPT = textwrap.dedent("""
    import sys, threading, time, m4cxr
    model = m4cxr.Model(sys.argv[1], dtype="float32", threads=1)
    image = model.image(sys.argv[2])
    started = threading.Event()
    def reports():
        session = model.session()
        while True:
            started.set()
            session.report(image, max_new_tokens=64)
    def images():
        while True:
            model.image(sys.argv[2])
    for target in (reports, images):
        threading.Thread(target=target, daemon=True).start()
    started.wait()
    time.sleep(0.3)
    print("main thread exits")
""")


def test_exit_while_daemon_threads_are_inside_tasks():
    for _ in range(3):  # the exit lands at a different point of the workers each time
        run = subprocess.run([sys.executable, "-c", SCRIPT, str(MODEL_DIR), image_path("gray8_70x70.png")],
                             capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert "main thread exits" in run.stdout, run.stderr
        assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
        assert "terminate called" not in run.stderr
