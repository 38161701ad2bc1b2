"""Streaming (m4cxr_task_next), cancellation and the one-task-per-session rule."""
import threading

import pytest

import m4cxr
from conftest import image_path

Q = "Is there pleural effusion?"


def test_pieces_concatenate_to_the_result(session, image):
    stream = session.report(image, stream=True, max_new_tokens=10)
    assert isinstance(stream, m4cxr.Stream) and not stream.done
    pieces = list(stream)
    assert stream.done and all(isinstance(p, m4cxr.Piece) and isinstance(p, str) for p in pieces)
    r = stream.result()
    assert "".join(p for p in pieces if p.turn == 0) == r.turns[0]
    assert "".join(p for p in pieces if p.turn == 1) == r.turns[1] == r.text
    assert [p.turn for p in pieces] == sorted(p.turn for p in pieces)
    assert stream.result() == r  # repeatable


def test_result_without_iterating_runs_to_the_end(session, image):
    stream = session.vqa(image, Q, stream=True, max_new_tokens=7)
    r = stream.result()
    assert r.stats.generated_tokens == 7 and not r.cancelled
    assert list(stream) == []


def fresh_answer(model, image, n):
    with model.session() as s:
        return s.vqa(image, Q, max_new_tokens=n)


def test_breaking_out_of_the_loop_cancels(model, session, image):
    with session.vqa(image, Q, stream=True, max_new_tokens=200) as stream:
        for i, _ in enumerate(stream):
            if i == 2:
                break
    r = stream.result()
    if not r.stats.stopped_by_eos:
        assert r.cancelled and r.stats.generated_tokens < 200
    # a dropped stream cancels too (the loop's iterator is collected right away)
    for i, _ in enumerate(session.vqa(image, Q, stream=True, max_new_tokens=200)):
        if i == 2:
            break
    # the session is usable afterwards, and after a reset it answers as a fresh one
    session.reset()
    assert session.vqa(image, Q, max_new_tokens=5).text == fresh_answer(model, image, 5).text


def test_cancel_from_another_thread(session, image):
    stream = session.vqa(image, Q, stream=True, max_new_tokens=300)
    next(stream)
    t = threading.Thread(target=session.cancel)
    t.start()
    t.join()
    r = stream.result()
    if not r.stats.stopped_by_eos:
        assert r.cancelled and r.stats.generated_tokens < 300
    stream2 = session.vqa(image, Q, stream=True, max_new_tokens=300)
    stream2.cancel()  # before the first piece: stops while encoding/prefilling or at the first token
    r2 = stream2.result()
    assert r2.cancelled and r2.stats.generated_tokens <= 1


def test_one_unfinished_task_per_session(session, image):
    stream = session.vqa(image, Q, stream=True, max_new_tokens=50)
    next(stream)
    with pytest.raises(m4cxr.BusyError) as e:
        session.vqa(image, Q)
    assert e.value.status == m4cxr.Status.BUSY and "unfinished" in str(e.value)
    with pytest.raises(m4cxr.BusyError):
        session.reset()
    stream.close()
    assert stream.done and stream.result().cancelled
    session.reset()


def test_closing_the_session_ends_its_stream(model, image):
    session = model.session()
    stream = session.vqa(image, Q, stream=True, max_new_tokens=50)
    next(stream)
    session.close()
    with pytest.raises(m4cxr.InvalidHandleError, match="closed"):
        next(stream)
    with pytest.raises(m4cxr.InvalidHandleError):
        stream.result()
    stream.close()  # harmless


def test_a_stream_keeps_its_session_and_images_alive(model, image):
    stream = model.session().vqa(image, Q, stream=True, max_new_tokens=4)
    assert stream.result().stats.generated_tokens == 4
    path = image_path("gray8_70x70.png")  # the Image made from the path is the stream's
    stream = model.session().difference_vqa(path, path, "what has changed?", stream=True, max_new_tokens=2)
    assert stream.result().to_dict()["replay"]["image_hashes"] == [model.image(path).hash] * 2


def test_closing_a_session_from_another_thread_while_it_generates(model, image):
    session = model.session()
    stream = session.vqa(image, Q, stream=True, max_new_tokens=3000)
    next(stream)
    outcome = []

    def consume():
        try:
            outcome.append(stream.result())
        except m4cxr.InvalidHandleError as e:
            outcome.append(e)

    t = threading.Thread(target=consume)
    t.start()
    session.close()  # cancels, waits for the running step, frees task and session
    t.join(30)
    assert not t.is_alive() and len(outcome) == 1
    assert isinstance(outcome[0], m4cxr.InvalidHandleError) or outcome[0].cancelled


def test_one_stream_iterated_by_two_threads(session, image):
    """The second thread is refused (BusyError) while the first is inside a step; closing
    the stream from another thread stops it for the iterating one."""
    stream = session.vqa(image, Q, stream=True, max_new_tokens=3000)
    next(stream)
    outcome = []
    t = threading.Thread(target=lambda: outcome.append(stream.result()))
    t.start()
    busy = None
    for _ in range(10000):
        try:
            next(stream)
        except m4cxr.BusyError as e:
            busy = e
            break
    stream.close()  # cancels; the other thread drains it
    t.join(60)
    assert busy is not None and busy.status == m4cxr.Status.BUSY and "another thread" in str(busy)
    assert not t.is_alive() and outcome[0].cancelled and stream.done
    session.reset()
