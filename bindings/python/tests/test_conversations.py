"""Conversations through the binding: a task with images starts a new conversation (patient
safety) unless continue_conversation=True; append_turn restores a turn; the image cache
can be cleared."""
import pytest

import m4cxr
from conftest import image_path


def prompt_ids(result, turn=0):
    return result.to_dict()["turns"][turn]["prompt_ids"]


@pytest.fixture(scope="module")
def image_b(model):
    with model.image(image_path("gray8_73x101.png")) as im:
        yield im


def test_a_task_with_images_starts_a_new_conversation(model, image, image_b):
    with model.session() as s:
        a = s.report(image, max_new_tokens=3)
        b = s.report(image_b, max_new_tokens=3)
    with model.session() as fresh:
        want = fresh.report(image_b, max_new_tokens=3)
    assert prompt_ids(b) == prompt_ids(want)  # image slots are -1: the ids do not show which image
    assert b.to_dict()["replay"]["image_hashes"] == [image_b.hash] and b.turns == want.turns
    assert len(prompt_ids(b)) == len(prompt_ids(a))
    assert b.to_dict()["replay"]["options"]["continue_conversation"] is False
    # also when the first task is another one
    with model.session() as s:
        s.vqa(image, "Is there pleural effusion?", max_new_tokens=3)
        assert prompt_ids(s.report(image_b, max_new_tokens=3)) == prompt_ids(want)


def test_continue_conversation_keeps_the_earlier_task_in_the_prompt(model, image, image_b):
    with model.session() as s:
        a = s.report(image, max_new_tokens=3)
        b = s.report(image_b, max_new_tokens=3, continue_conversation=True)
    first = a.to_dict()["turns"]
    last_prompt = first[-1]["prompt_ids"]
    second = prompt_ids(b)
    assert len(second) > len(last_prompt) + len(first[-1]["generated_ids"])
    assert second[:len(last_prompt)] == last_prompt  # the whole first conversation, then more
    assert second[len(last_prompt):][:len(first[-1]["generated_ids"])] == first[-1]["generated_ids"]
    assert b.to_dict()["replay"]["options"]["continue_conversation"] is True
    # streaming takes it too
    with model.session() as s:
        s.report(image, max_new_tokens=3)
        stream = s.report(image_b, stream=True, max_new_tokens=3, continue_conversation=True)
        assert prompt_ids(stream.result()) == second


def test_chat_always_continues(model, image):
    with model.session() as s:
        a = s.vqa(image, "Is there pleural effusion?", max_new_tokens=3)
        b = s.chat("And cardiomegaly?", max_new_tokens=3)
        c = s.chat("And edema?", max_new_tokens=3, continue_conversation=False)  # ignored by chat
    assert prompt_ids(b)[:len(prompt_ids(a))] == prompt_ids(a)
    assert prompt_ids(c)[:len(prompt_ids(b))] == prompt_ids(b)


USER = "radiology image: <image> Describe."


def test_append_turn_then_chat(model, image):
    with model.session() as s:  # what the appended user text encodes to, alone
        alone = prompt_ids(s.chat("Describe.", [image], max_new_tokens=1))
    prompts = {}
    for answer in ("", "The heart size is normal. No pleural effusion."):
        with model.session() as s:
            s.append_turn(USER, answer, [image])
            r = s.chat("Is there pleural effusion?", max_new_tokens=2)
            prompts[answer] = prompt_ids(r)
            assert r.to_dict()["turns"][0]["user"] == "Is there pleural effusion?"
    empty, full = prompts.values()
    assert empty[:len(alone)] == alone and full[:len(alone)] == alone  # the appended user turn
    common = 0  # then the answer, then the same new question
    while common < len(empty) - len(alone) and full[-1 - common] == empty[-1 - common]:
        common += 1
    assert common >= 8  # "[INST] Is there pleural effusion? [/INST]"
    assert len(full) - common - len(alone) > len(empty) - common - len(alone) >= 0
    # a typed task continues after an appended turn only when asked to
    with model.session() as s:
        s.append_turn(USER, "Normal.", [image])
        cont = s.vqa(image, "Is there pleural effusion?", max_new_tokens=1, continue_conversation=True)
        s.append_turn(USER, "Normal.", [image])
        new = s.vqa(image, "Is there pleural effusion?", max_new_tokens=1)
    assert prompt_ids(cont)[:len(alone)] == alone and len(prompt_ids(cont)) > len(prompt_ids(new))
    with model.session() as s:
        assert prompt_ids(s.vqa(image, "Is there pleural effusion?", max_new_tokens=1)) == prompt_ids(new)


def test_append_turn_errors(model, image):
    with model.session() as s:
        with pytest.raises(m4cxr.InvalidArgumentError, match="marker"):
            s.append_turn(USER, "Normal.")  # one marker, no image
        with pytest.raises(m4cxr.InvalidArgumentError, match="marker"):
            s.append_turn("Describe.", "Normal.", [image])
        with pytest.raises(m4cxr.InvalidArgumentError, match="<image>"):
            s.append_turn(USER, "see <image>", [image])
        with pytest.raises(m4cxr.InvalidArgumentError, match="empty"):
            s.append_turn("", "Normal.")
        with pytest.raises(ValueError):
            s.append_turn(USER, "[INST] no", [image])
        stream = s.vqa(image, "Is there pleural effusion?", stream=True, max_new_tokens=20)
        next(stream)
        with pytest.raises(m4cxr.BusyError):
            s.append_turn(USER, "Normal.", [image])
        stream.close()
        s.append_turn(USER, "Normal.", image_path("rgb_150x200.jpg"))  # any image-like input
        assert s.chat("More?", max_new_tokens=1).stats.generated_tokens == 1
    with pytest.raises(m4cxr.InvalidHandleError, match="closed"):
        s.append_turn(USER, "Normal.", [image])


def test_clear_image_cache_makes_the_next_task_encode_again(model, image):
    with model.session() as s:
        first = s.vqa(image, "Is there pleural effusion?", max_new_tokens=1)
        cached = s.vqa(image, "Is there edema?", max_new_tokens=1)
        s.clear_image_cache()
        again = s.vqa(image, "Is there edema?", max_new_tokens=1)
        s.clear_image_cache()  # also on an empty cache
    assert first.stats.image_encode_ms > 0
    assert cached.stats.image_encode_ms == 0  # the embedding came from the cache
    assert again.stats.image_encode_ms > 0
    assert prompt_ids(again) == prompt_ids(cached) and again.text == cached.text
    with pytest.raises(m4cxr.InvalidHandleError):
        s.clear_image_cache()


def test_no_image_cache_with_max_cached_images_0():
    from conftest import load
    with load(max_cached_images=0) as m, m.session() as s:
        image = m.image(image_path("rgb_150x200.jpg"))
        s.vqa(image, "Is there pleural effusion?", max_new_tokens=1)
        assert s.vqa(image, "Is there edema?", max_new_tokens=1).stats.image_encode_ms > 0
