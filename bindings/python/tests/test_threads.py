"""Two threads with two sessions: same greedy output as one thread, and really in
parallel (the GIL is released inside m4cxr_task_next).

Both tests turn off the interpreter's forced thread switches (a huge switch interval):
then another Python thread can run while this one is between two time stamps only if
the C call made in between released the GIL. Verified to fail with the release removed.
"""
import sys
import threading
import time

import pytest


@pytest.fixture
def no_preemption():
    old = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    yield
    sys.setswitchinterval(old)


def run(model, image, spans):
    with model.session() as s:
        stream = s.report(image, stream=True, max_new_tokens=40)
        while True:
            t0 = time.perf_counter()
            piece = next(stream, None)  # one m4cxr_task_next call
            spans.append((t0, time.perf_counter()))
            if piece is None:
                break
        r = stream.result()
    return r.turns, r.to_dict()["turns"][1]["generated_ids"]


def test_two_sessions_on_two_threads(model, image, no_preemption):
    want = run(model, image, [])
    got, spans = [None, None], [[], []]

    def worker(i):
        got[i] = run(model, image, spans[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want, want]
    a, b = spans
    assert any(s[0] < e[1] and e[0] < s[1] for s in a for e in b)  # calls overlapped in time


def test_other_python_threads_run_while_a_session_generates(model, image, no_preemption):
    ticks = 0
    stop = threading.Event()

    def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0)

    with model.session() as s:
        stream = s.report(image, stream=True, max_new_tokens=40)
        t = threading.Thread(target=ticker)
        t.start()
        inside = 0
        try:
            while True:
                before = ticks
                piece = next(stream, None)
                inside += ticks - before
                if piece is None:
                    break
        finally:
            stop.set()
            t.join()
    assert inside > 0
