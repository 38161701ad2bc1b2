package org.m4cxr;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** Every task through the binding on the tiny golden model: prompts, goldens, results vs their JSON. */
public class TasksTest {
  private static Image rgb;   // rgb_150x200.jpg
  private static Image gray;  // gray8_70x70.png

  @BeforeClass
  public static void images() {
    rgb = TestSupport.model().image(TestSupport.imagePath("rgb_150x200.jpg"));
    gray = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
  }

  @AfterClass
  public static void closeImages() {
    rgb.close();
    gray.close();
  }

  private static Object json(Result r) {
    return TestSupport.Json.parse(r.json());
  }

  private static String user(Result r, int turn) {
    return (String) TestSupport.at(json(r), "turns", turn, "user");
  }

  @Test
  public void freeTurnReproducesTheGoldenSingleGeneration() throws Exception {
    Object c = TestSupport.at(TestSupport.manifest(), "prompts_merged_fp32", "single");
    String prompt = (String) TestSupport.at(c, "user_prompt");
    String prefix = "radiology image: <image> ";
    assertTrue(prompt.startsWith(prefix));
    int maxNew = ((Long) TestSupport.at(TestSupport.manifest(), "generation", "max_new_tokens")).intValue();
    try (Image im = TestSupport.model().image(TestSupport.imagePath((String) TestSupport.at(c, "images", 0)));
         Session s = TestSupport.model().session()) {
      Result r = s.chat(prompt.substring(prefix.length()), List.of(im), GenerationOptions.greedy(maxNew));
      assertEquals(TestSupport.at(c, "generated_text"), r.text());
      assertEquals(TestSupport.at(c, "generated_ids"), TestSupport.at(json(r), "turns", 0, "generated_ids"));
      assertEquals(List.of(r.text()), r.turns());
    }
  }

  @Test
  public void chainOfThoughtReportIsDeterministicAndMatchesItsJson() {
    Result a;
    Result b;
    try (Session s = TestSupport.model().session()) {
      a = s.report(List.of(gray), GenerationOptions.greedy(12));
    }
    try (Session s = TestSupport.model().session()) {
      b = s.report(List.of(gray), GenerationOptions.greedy(12));
    }
    assertEquals(a.text(), b.text());
    assertEquals(a.turns(), b.turns());
    assertEquals(a.findings(), b.findings());
    assertEquals(a.json().replaceAll("\"\\w+_ms\": [0-9.e+-]+", ""), b.json().replaceAll("\"\\w+_ms\": [0-9.e+-]+", ""));

    Object j = json(a);
    assertEquals(2, a.turns().size());
    assertEquals(a.turns().get(1), a.text());
    assertEquals(TestSupport.at(j, "text"), a.text());
    assertEquals(TestSupport.at(j, "turns", 0, "text"), a.turns().get(0));
    assertEquals(TestSupport.at(j, "findings"), a.findings());
    assertEquals(SYS_IMAGE + "Which of the following findings are present in the radiology image? Findings: "
                     + TestSupport.F13, user(a, 0));
    assertEquals("Based on the previous conversation, provide a description of the findings in the radiology image.",
                 user(a, 1));
    long generated = 0;
    for (int t = 0; t < 2; ++t) generated += ((List<?>) TestSupport.at(j, "turns", t, "generated_ids")).size();
    assertEquals(generated, a.stats().generatedTokens());
    assertTrue(a.stats().imageEncodeMs() > 0);
    assertEquals(false, a.stats().cancelled());
    assertEquals(gray.hash(), TestSupport.at(j, "replay", "image_hashes", 0));
    assertEquals(12L, TestSupport.at(j, "replay", "options", "max_new_tokens"));
  }

  /** Issue 14: token log-probabilities are opt-in, per turn, and change no output. */
  @Test
  public void logprobsAreOptInPerTurnAndChangeNoOutput() {
    Result off;
    Result on;
    try (Session s = TestSupport.model().session()) {
      off = s.report(List.of(gray), GenerationOptions.greedy(6));
      on = s.report(List.of(gray), GenerationOptions.greedy(6).logprobs(3));
    }
    assertEquals(off.text(), on.text());
    assertEquals(off.turns(), on.turns());
    assertFalse(off.json().contains("\"tokens\""));
    assertEquals(2, on.tokens().size());
    Object jon = json(on);
    for (int turn = 0; turn < 2; ++turn) {
      assertTrue(off.tokens().get(turn).isEmpty());
      List<?> ids = (List<?>) TestSupport.at(jon, "turns", turn, "generated_ids");
      assertEquals(ids, TestSupport.at(json(off), "turns", turn, "generated_ids"));
      List<Token> toks = on.tokens().get(turn);
      assertEquals(ids.size(), toks.size());
      for (int i = 0; i < toks.size(); ++i) {
        Token t = toks.get(i);
        assertEquals(((Number) ids.get(i)).intValue(), t.id());
        assertEquals(TestSupport.at(jon, "turns", turn, "tokens", i, "text"), t.text());
        assertTrue(t.logprob() <= 0);
        assertEquals(3, t.top().size());
        assertEquals(t.logprob(), t.top().get(0).logprob(), 0.0);  // greedy: the argmax
        for (int j = 1; j < 3; ++j) assertTrue(t.top().get(j - 1).logprob() >= t.top().get(j).logprob());
      }
    }
  }

  @Test
  public void constrainedAnswersAlwaysParse() {
    String num = "(100|[1-9]?[0-9])";
    String box = "\\[" + num + "," + num + "," + num + "," + num + "\\]";
    String boxes = box + "(, " + box + ")*";
    String names = "(edema|nodule|pleural effusion)";
    try (Session s = TestSupport.model().session()) {
      for (Image im : List.of(gray, rgb)) {
        GenerationOptions g = GenerationOptions.greedy(40).constrained(true);
        Result r = s.groundFinding(im, "edema", g);
        assertTrue(r.text(), r.text().matches("Yes\\. " + boxes + "\\.|Not present\\."));
        assertEquals(r.text().chars().filter(c -> c == '[').count(), r.boxes().size());
        r = s.detectAbnormalities(im, g);
        assertTrue(r.text(), r.text().matches(boxes + "\\."));
        r = s.classify(im, List.of("edema", "nodule", "pleural effusion"), g);
        assertTrue(r.text(), r.text().matches(names + "(, " + names + ")*\\.|Not found\\."));
      }
      // Free text is untouched.
      assertEquals(s.vqa(gray, "Is there edema?", GenerationOptions.greedy(6)).text(),
                   s.vqa(gray, "Is there edema?", GenerationOptions.greedy(6).constrained(true)).text());
    }
    assertTrue(GenerationOptions.greedy(4).constrained(true).toString().contains("constrained"));
  }

  @Test
  public void labelScoresAndBoxProbabilities() {
    List<String> labels = List.of("edema", "nodule", "pleural effusion");
    try (Session s = TestSupport.model().session()) {
      for (Image im : List.of(gray, rgb)) {
        GenerationOptions g = GenerationOptions.greedy(40).constrained(true);
        Result r = s.classify(im, labels, g);
        assertEquals(labels, new ArrayList<>(r.labelScores().keySet()));  // the question's order
        Map<?, ?> scores = (Map<?, ?>) TestSupport.at(json(r), "label_scores");
        Map<?, ?> written = (Map<?, ?>) TestSupport.at(json(r), "label_written");
        for (String l : labels) {
          double v = r.labelScores().get(l);
          assertTrue(l + "=" + v, v >= 0 && v <= 1);
          assertEquals(((Number) scores.get(l)).doubleValue(), v, 0.0);
          assertEquals(r.findings().contains(l), written.get(l));
        }
        try {
          r.labelScores().put("edema", 1.0);
          assertTrue("labelScores() must be unmodifiable", false);
        } catch (UnsupportedOperationException expected) {
          // read-only
        }
        Result d = s.detectAbnormalities(im, g);
        assertFalse(d.boxes().isEmpty());
        for (int i = 0; i < d.boxes().size(); ++i) {
          double p = d.boxes().get(i).probability();
          assertTrue("p=" + p, p > 0 && p <= 1);
          assertEquals(((Number) TestSupport.at(json(d), "boxes", i, "probability")).doubleValue(), p, 0.0);
        }
        assertTrue(d.labelScores().isEmpty());
      }
      assertEquals(13, s.report(List.of(gray), GenerationOptions.greedy(8)).labelScores().size());
    }
  }

  private static final String SYS_IMAGE = TestSupport.SYS + "radiology image: <image> ";

  @Test
  public void everyTaskBuildsTheUpstreamPrompt() {
    double[] box = {30, 40, 120, 160};  // pixels of rgb_150x200 -> [20,10,80,90]
    Map<String, BiFunction<Session, GenerationOptions, Result>> tasks = new LinkedHashMap<>();
    Map<String, String> want = new LinkedHashMap<>();
    tasks.put("multi-image report", (s, o) -> s.report(List.of(rgb, gray), o));
    want.put("multi-image report", TestSupport.SYS + "radiology images: <image> <image> Which of the following findings are "
             + "present in the radiology images? Findings: " + TestSupport.F13);
    tasks.put("plural wording", (s, o) -> s.report(List.of(gray), true, o));
    want.put("plural wording", TestSupport.SYS + "radiology images: <image> Which of the following findings are "
             + "present in the radiology images? Findings: " + TestSupport.F13);
    tasks.put("follow-up", (s, o) -> s.reportFollowup(List.of(rgb), "Heart size is normal.\nNo effusion (small).", List.of(gray), o));
    want.put("follow-up", TestSupport.SYS + "prior radiology images: <image>, prior radiology report: Heart size is normal. "
             + "No effusion small. follow-up images: <image>, The radiology studies are given in chronological order. "
             + "Which of the following findings are present in the current follow-up radiology images? Findings: "
             + TestSupport.F13);
    tasks.put("classify", (s, o) -> s.classify(rgb, List.of("Atelectasis", "Cardiomegaly"), o));
    want.put("classify", SYS_IMAGE + "Which of the following findings are present in the radiology image? Findings: "
             + "atelectasis, cardiomegaly");
    tasks.put("classify 13", (s, o) -> s.classify(rgb, o));
    want.put("classify 13", SYS_IMAGE + "Which of the following findings are present in the radiology image? Findings: "
             + TestSupport.F13);
    tasks.put("ground finding", (s, o) -> s.groundFinding(rgb, "Nodule", o));
    want.put("ground finding", SYS_IMAGE + "Is nodule present in the radiology image? If so, provide the bounding box "
             + "coordinates of the region.");
    tasks.put("ground findings", (s, o) -> s.groundFindings(rgb, List.of("Atelectasis", "Cardiomegaly"), o));
    want.put("ground findings", SYS_IMAGE + "Which of the following findings are present in the radiology image? Provide "
             + "the bounding box coordinates if present. Findings: atelectasis, cardiomegaly");
    tasks.put("detect", (s, o) -> s.detectAbnormalities(rgb, o));
    want.put("detect", SYS_IMAGE + "Provide the bounding box coordinates of abnormal regions in the radiology image.");
    tasks.put("organ", (s, o) -> s.groundOrgan(rgb, "lung", o));
    want.put("organ", SYS_IMAGE + "Provide the bounding box coordinates of lung in the radiology image.");
    tasks.put("organ by default", (s, o) -> s.groundOrgan(rgb, o));  // the table's default organ: lung
    want.put("organ by default", SYS_IMAGE + "Provide the bounding box coordinates of lung in the radiology image.");
    tasks.put("phrase", (s, o) -> s.groundPhrase(rgb, "Small left apical pneumothorax", o));
    want.put("phrase", SYS_IMAGE + "Provide the bounding box coordinate of the region this phrase describes: Small left "
             + "apical pneumothorax");
    tasks.put("region", (s, o) -> s.groundRegion(rgb, "right lung", o));
    want.put("region", SYS_IMAGE + "Provide the bounding box coordinate of the anatomical region. right lung");
    tasks.put("name finding", (s, o) -> s.identifyRegion(rgb, BoxQuestion.FINDING, new double[][] {box}, o));
    want.put("name finding", SYS_IMAGE + "Provide a finding name for this region. [20,10,80,90]");
    tasks.put("name organ", (s, o) -> s.identifyRegion(rgb, BoxQuestion.ORGAN, new double[][] {box}, o));
    want.put("name organ", SYS_IMAGE + "Provide an organ name for this region. [20,10,80,90]");
    tasks.put("name region", (s, o) -> s.identifyRegion(rgb, BoxQuestion.REGION, new double[][] {box}, o));
    want.put("name region", SYS_IMAGE + "Provide an anatomical region name for this region. [20,10,80,90]");
    tasks.put("name phrase", (s, o) -> s.identifyRegion(rgb, BoxQuestion.PHRASE, new double[][] {box}, o));
    want.put("name phrase", SYS_IMAGE + "Provide a radiology report phrase for the region. [20,10,80,90].");
    tasks.put("vqa", (s, o) -> s.vqa(rgb, "Is there pleural effusion?", o));
    want.put("vqa", SYS_IMAGE + "Answer the question. Is there pleural effusion?");
    tasks.put("difference vqa", (s, o) -> s.differenceVqa(rgb, gray, "what has changed?", o));
    want.put("difference vqa", TestSupport.SYS + "reference: <image>, main: <image> Using the provided reference and main "
             + "radiology images, answer the following question. what has changed?");
    tasks.put("chat", (s, o) -> s.chat("Describe.", List.of(rgb), o));
    want.put("chat", SYS_IMAGE + "Describe.");
    List<String> failures = new ArrayList<>();
    for (Map.Entry<String, BiFunction<Session, GenerationOptions, Result>> t : tasks.entrySet()) {
      try (Session s = TestSupport.model().session()) {
        Result r;
        try {
          r = t.getValue().apply(s, GenerationOptions.greedy(4));  // random weights: parsing finds nothing, but the call must succeed
        } catch (M4cxrException e) {
          failures.add(t.getKey() + ": " + e.getMessage());  // reported with the others below
          continue;
        }
        if (!want.get(t.getKey()).equals(user(r, 0))) failures.add(t.getKey() + ": " + user(r, 0));
        assertNotNull(r.text());
        assertTrue(r.stats().generatedTokens() > 0);
        checkBoxes(r, rgb);
      }
    }
    assertEquals(List.of(), failures);
  }

  /** Boxes come in both frames; the pixel one is the model one mapped through the image's crop. */
  private static void checkBoxes(Result r, Image image) {
    List<?> boxes = (List<?>) TestSupport.at(json(r), "boxes");
    assertEquals(boxes.size(), r.boxes().size());
    for (int i = 0; i < boxes.size(); ++i) {
      Box b = r.boxes().get(i);
      assertArrayEquals(image.modelToPixels(b.model()), b.pixels(), 1e-9);
      assertEquals(TestSupport.at(boxes, i, "label"), b.label());
    }
  }

  @Test
  public void groundingTakesAndGivesPixelBoxes() {
    try (Session s = TestSupport.model().session()) {
      GenerationOptions o = GenerationOptions.greedy(8);
      // pixels in: two boxes on the 150x200 image become model-frame coordinates in the prompt
      Result r = s.identifyRegion(rgb, BoxQuestion.PHRASE, new double[][] {{30, 40, 120, 160}, {0, 25, 150, 175}}, o);
      assertTrue(user(r, 0), user(r, 0).endsWith("[20,10,80,90], [0,0,100,100]."));
      // boxes out: a follow-up grounding turn in the same conversation (asked for: tasks start afresh by default)
      Result g = s.groundPhrase(rgb, "left pleural effusion", o.continueConversation(true));
      assertEquals("Provide the bounding box coordinate of the region this phrase describes: left pleural effusion",
                   user(g, 0));
      checkBoxes(g, rgb);
    }
    Box b = new Box("lung", new int[] {20, 10, 80, 90}, rgb.modelToPixels(new int[] {20, 10, 80, 90}), 0);
    assertArrayEquals(new double[] {30, 40, 120, 160}, b.pixels(), 1.0);
  }

  @Test
  public void vqaAnswersAndRespectsTheTokenLimit() {
    try (Session s = TestSupport.model().session()) {
      Result r = s.vqa(rgb, "Is there pleural effusion?", GenerationOptions.greedy(5));
      assertEquals(SYS_IMAGE + "Answer the question. Is there pleural effusion?", user(r, 0));
      assertEquals(TestSupport.at(json(r), "text"), r.text());
      assertTrue(r.stats().generatedTokens() <= 5);
      assertEquals(List.of(), r.boxes());
      assertEquals(List.of(), r.findings());
    }
  }

  @Test
  public void conversationContinuesAndResets() {
    try (Session s = TestSupport.model().session()) {
      GenerationOptions o = GenerationOptions.greedy(6);
      s.report(List.of(gray), o);
      Result r = s.chat("Summarise the report in one sentence.", o);
      assertEquals("Summarise the report in one sentence.", user(r, 0));
      s.reset();
      assertEquals(TestSupport.SYS + "Hello", user(s.chat("Hello", o), 0));
    }
  }

  @Test
  public void textTravelsAsRealUtf8() {
    // a supplementary character (surrogate pair in Java, 4 bytes in UTF-8) and accents
    String q = "Is there an effusion \uD835\uDC65 — café?";
    try (Session s = TestSupport.model().session()) {
      Result r = s.vqa(rgb, q, GenerationOptions.greedy(2));
      assertEquals(SYS_IMAGE + "Answer the question. " + q, user(r, 0));
    }
  }

  @Test
  public void samplingWithASeedIsReproducible() {
    GenerationOptions o = GenerationOptions.greedy(6).sampling(0.8f, 20, 0.9f, 1234);
    String a;
    String b;
    try (Session s = TestSupport.model().session()) {
      a = s.vqa(rgb, "Any effusion?", o).text();
    }
    try (Session s = TestSupport.model().session()) {
      Result r = s.vqa(rgb, "Any effusion?", o);
      b = r.text();
      assertEquals(true, TestSupport.at(json(r), "replay", "options", "do_sample"));
    }
    assertEquals(a, b);
  }
}
