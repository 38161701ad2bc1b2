package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.List;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The conversation rules: a task that brings images starts a new conversation unless the
 * call continues it; chat continues; appendTurn restores a turn; the image cache.
 */
public class ConversationTest {
  private static final GenerationOptions O = GenerationOptions.greedy(3);
  private static final String FINDINGS_QUESTION = "Which of the following findings are present in the radiology image? "
      + "Findings: edema, pneumonia";

  private static Image a;  // gray8_70x70.png
  private static Image b;  // rgb_150x200.jpg

  @BeforeClass
  public static void images() {
    a = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
    b = TestSupport.model().image(TestSupport.imagePath("rgb_150x200.jpg"));
  }

  @AfterClass
  public static void closeImages() {
    a.close();
    b.close();
  }

  private static List<?> ids(Result r, int turn, String what) {
    return (List<?>) TestSupport.at(TestSupport.Json.parse(r.json()), "turns", turn, what);
  }

  private static List<?> promptIds(Result r, int turn) {
    return ids(r, turn, "prompt_ids");
  }

  private static void assertStartsWith(List<?> prefix, List<?> list) {
    assertTrue(list.size() + " ids, prefix " + prefix.size(), list.size() >= prefix.size());
    assertEquals(prefix, list.subList(0, prefix.size()));
  }

  @Test
  public void everyTaskWithImagesStartsANewConversation() {
    Result second;
    Result alone;
    try (Session s = TestSupport.model().session()) {
      s.report(List.of(a), O);
      second = s.report(List.of(b), O);
    }
    try (Session s = TestSupport.model().session()) {
      alone = s.report(List.of(b), O);
    }
    // nothing of the first patient is in the second report's prompt
    assertEquals(promptIds(alone, 0), promptIds(second, 0));
    assertEquals(promptIds(alone, 1), promptIds(second, 1));
    assertEquals(alone.turns(), second.turns());
    // the same for the other typed tasks
    try (Session s = TestSupport.model().session()) {
      s.vqa(a, "Is there an effusion?", O);
      Result g = s.groundOrgan(b, "heart", O);
      try (Session t = TestSupport.model().session()) {
        assertEquals(promptIds(t.groundOrgan(b, "heart", O), 0), promptIds(g, 0));
      }
    }
  }

  @Test
  public void continueConversationKeepsTheEarlierTask() {
    Result first;
    Result cont;
    Result alone;
    try (Session s = TestSupport.model().session()) {
      first = s.report(List.of(a), O);
      cont = s.report(List.of(b), O.continueConversation(true));
    }
    try (Session s = TestSupport.model().session()) {
      alone = s.report(List.of(b), O);
    }
    List<?> p = promptIds(cont, 0);
    assertTrue(p.size() > promptIds(alone, 0).size());
    // the prompt starts with the first report's whole conversation: its last prompt, then its answer
    List<?> lastPrompt = promptIds(first, 1);
    assertStartsWith(lastPrompt, p);
    assertStartsWith(ids(first, 1, "generated_ids"), p.subList(lastPrompt.size(), p.size()));
    // chat always continues, without asking
    try (Session s = TestSupport.model().session()) {
      Result r = s.report(List.of(a), O);
      Result c = s.chat("Anything else?", O);
      assertStartsWith(promptIds(r, 1), promptIds(c, 0));
      assertEquals(List.of("Anything else?"), List.of(TestSupport.at(TestSupport.Json.parse(c.json()), "turns", 0, "user")));
    }
  }

  @Test
  public void appendedTurnIsContinuedByChat() {
    List<?> firstTurn;
    List<?> answerIds;
    String answer;
    try (Session s = TestSupport.model().session()) {
      Result r = s.chat(FINDINGS_QUESTION, List.of(a), GenerationOptions.greedy(6));
      firstTurn = promptIds(r, 0);
      answerIds = ids(r, 0, "generated_ids");
      answer = r.text();
    }
    try (Session s = TestSupport.model().session()) {
      // the turn a chat with the image would have produced, restored without running the model
      s.appendTurn("radiology image: <image> " + FINDINGS_QUESTION, answer, List.of(a));
      Result r = s.chat("Describe the findings.", O);
      List<?> p = promptIds(r, 0);
      assertStartsWith(firstTurn, p);
      assertTrue(p.size() > firstTurn.size() + answerIds.size());
      assertEquals("Describe the findings.", TestSupport.at(TestSupport.Json.parse(r.json()), "turns", 0, "user"));
      // a different answer changes the prompt after the user turn
      try (Session t = TestSupport.model().session()) {
        t.appendTurn("radiology image: <image> " + FINDINGS_QUESTION, answer + " and more words", List.of(a));
        List<?> q = promptIds(t.chat("Describe the findings.", O), 0);
        assertStartsWith(firstTurn, q);
        assertNotEquals(p, q);
        assertTrue(q.size() > p.size());
      }
      // and a continued typed task sees it too
      Result v = s.vqa(b, "Is there an effusion?", O.continueConversation(true));
      assertStartsWith(firstTurn, promptIds(v, 0));
    }
  }

  @Test
  public void appendTurnErrorsAreMapped() {
    try (Session s = TestSupport.model().session()) {
      // marker count differs from the number of images
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.appendTurn("radiology image: <image> Describe.", "Nothing.", List.of())).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.appendTurn("Describe.", "Nothing.", List.of(a))).status());
      M4cxrException e = assertThrows(M4cxrException.class, () -> s.appendTurn("Describe.", "an <image> answer"));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.nativeMessage().length() > 0);
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class, () -> s.appendTurn("", "x")).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.appendTurn("[INST] Describe.", "x")).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class, () -> s.appendTurn("Describe.", null)).status());
      assertThrows(NullPointerException.class, () -> s.appendTurn("Describe.", "x", null));
      // an unfinished task keeps the session busy
      try (TaskStream t = s.chatStream("Describe.", List.of(a), GenerationOptions.greedy(50))) {
        assertTrue(t.hasNext());
        assertEquals(Status.BUSY, assertThrows(M4cxrException.class, () -> s.appendTurn("Hello.", "Hi.")).status());
      }
      // refused calls left the session as it was
      s.reset();
      s.appendTurn("Hello.", "Hi.");
      assertTrue(s.chat("Describe.", O).stats().generatedTokens() > 0);
    }
    Image closed = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
    closed.close();
    try (Session s = TestSupport.model().session()) {
      assertThrows(IllegalStateException.class, () -> s.appendTurn("radiology image: <image> x", "y", List.of(closed)));
    }
  }

  @Test
  public void clearImageCacheMakesTheNextTaskEncodeAgain() {
    try (Session s = TestSupport.model().session()) {
      Result r1 = s.vqa(a, "Is there an effusion?", O);
      assertTrue(r1.stats().imageEncodeMs() > 0);
      Result r2 = s.vqa(a, "Is there an effusion?", O);  // a new conversation, the embedding from the cache
      assertEquals(0.0, r2.stats().imageEncodeMs(), 0.0);
      s.clearImageCache();
      Result r3 = s.vqa(a, "Is there an effusion?", O);
      assertTrue(r3.stats().imageEncodeMs() > 0);
      assertEquals(r1.text(), r3.text());
      assertEquals(promptIds(r1, 0), promptIds(r3, 0));
    }
    // without a cache every task encodes its images
    try (Model m = Model.load(TestSupport.modelDir(), new Model.Options().dtype(DType.FLOAT32).maxCachedImages(0));
         Image im = m.image(TestSupport.imagePath("gray8_70x70.png"));
         Session s = m.session()) {
      s.vqa(im, "Is there an effusion?", O);
      assertTrue(s.vqa(im, "Is there an effusion?", O).stats().imageEncodeMs() > 0);
    }
  }
}
