"""Create/close cycles must not grow the resident set: models, sessions, images, streams
and results are released deterministically (close() or collection). Measured growth is
0.0 MB for each cycle; leaking the C result, session or image of each cycle grows it by
9 MB (results), 27 MB (sessions, with their models: 130 MB), 62 MB (images) over 100
cycles."""
import gc
import os

from conftest import image_path, load

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def growth_mb(cycle, n=200) -> float:
    """RSS growth over the second half of n cycles (the first half warms up caches and the
    allocator)."""
    for _ in range(n // 2):
        cycle()
    before = rss_mb()
    for _ in range(n - n // 2):
        cycle()
    return rss_mb() - before


def test_models_sessions_images_and_results(image):
    path = image_path("gray8_70x70.png")

    def model_cycle():  # a leaked model keeps its weights (0.9 MB)
        with load() as m, m.session() as s, m.image(path) as im:
            s.vqa(im, "ok?", max_new_tokens=1)

    assert growth_mb(model_cycle) < 4

    with load() as model:
        def session_cycle():  # a leaked session keeps its KV cache and encoded image
            with model.session() as s:
                s.chat("Describe.", [image], max_new_tokens=2)

        def image_cycle():  # a leaked image keeps its preprocessed pixels (about 60 KB each)
            for _ in range(10):
                model.image(path).close()
            model.image(open(path, "rb").read())

        session = model.session()

        def result_cycle():  # results (about 6 KB each with their JSON) and abandoned streams
            session.reset()
            for _ in range(10):
                session.vqa(image, "ok?", max_new_tokens=1).to_dict()
            next(session.vqa(image, "again?", stream=True, max_new_tokens=50))

        for name, cycle in [("session", session_cycle), ("image", image_cycle), ("result", result_cycle)]:
            assert growth_mb(cycle) < 4, name
        session.close()


def test_objects_in_reference_cycles_are_freed_by_the_collector(image):
    """Finalizers run in whatever order the cyclic collector picks (a stream's before or
    after its session's, the model's before its sessions'): every order is safe and frees
    everything."""
    path = image_path("gray8_70x70.png")

    class Holder:
        pass

    def cycle():
        m = load()
        s = m.session()
        im = m.image(path)
        st = s.vqa(im, "ok?", stream=True, max_new_tokens=50)
        next(st)
        done = s.vqa  # a bound method: another path to the session
        h = Holder()
        h.all = [m, s, im, st, done, h]  # one cycle holding everything, nothing closed
        s._cycle = h
        im._cycle = h
        st._cycle = h

    gc.disable()
    try:
        assert growth_mb(cycle, n=60) < 4
    finally:
        gc.enable()
