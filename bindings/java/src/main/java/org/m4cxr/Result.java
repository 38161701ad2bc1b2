package org.m4cxr;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_result;
import org.m4cxr.jni.m4cxr_box;
import org.m4cxr.jni.m4cxr_label_score;
import org.m4cxr.jni.m4cxr_stats;
import org.m4cxr.jni.m4cxr_token_info;

/**
 * The outcome of a task. An immutable Java value: everything is copied out of the
 * native {@code m4cxr_result}, which is freed at once, so a Result needs no closing and
 * may be shared between threads.
 */
public final class Result {
  private final String text;
  private final List<String> turns;
  private final List<String> findings;
  private final List<Box> boxes;
  private final Stats stats;
  private final String json;
  private final List<List<Token>> tokens;
  private final Map<String, Double> labelScores;
  private final byte[] fhir;      // m4cxr_result_to_fhir, UTF-8
  private final byte[] dicomSr;   // m4cxr_result_to_dicom_sr

  private Result(String text, List<String> turns, List<String> findings, List<Box> boxes, Stats stats, String json,
                 List<List<Token>> tokens, Map<String, Double> labelScores, byte[] fhir, byte[] dicomSr) {
    this.fhir = fhir;
    this.dicomSr = dicomSr;
    this.text = text;
    this.turns = Collections.unmodifiableList(turns);
    this.findings = Collections.unmodifiableList(findings);
    this.boxes = Collections.unmodifiableList(boxes);
    this.stats = stats;
    this.json = json;
    this.tokens = Collections.unmodifiableList(tokens);
    this.labelScores = Collections.unmodifiableMap(labelScores);
  }

  /** Copies a native result; the caller still frees it. */
  static Result copyOf(SWIGTYPE_p_m4cxr_result r) {
    List<String> turns = new ArrayList<>();
    for (long i = 0, n = M4cxr.m4cxr_result_turn_count(r); i < n; ++i) turns.add(M4cxr.m4cxr_result_turn_text(r, i));
    List<String> findings = new ArrayList<>();
    for (long i = 0, n = M4cxr.m4cxr_result_finding_count(r); i < n; ++i) findings.add(M4cxr.m4cxr_result_finding(r, i));
    List<Box> boxes = new ArrayList<>();
    m4cxr_box b = new m4cxr_box();
    try {
      for (long i = 0, n = M4cxr.m4cxr_result_box_count(r); i < n; ++i) {
        Native.check(M4cxr.m4cxr_result_get_box(r, i, b), "reading a box");
        boxes.add(new Box(b.getLabel(), b.getModel(), b.getPixels(), b.getImage_index(), b.getProbability()));
      }
    } finally {
      b.delete();
    }
    m4cxr_stats s = new m4cxr_stats();
    Stats stats;
    try {
      Native.check(M4cxr.m4cxr_result_get_stats(r, s), "reading the stats");
      stats = new Stats(s.getPrompt_tokens(), s.getPrefilled_tokens(), s.getGenerated_tokens(), s.getImage_encode_ms(),
                        s.getPrefill_ms(), s.getDecode_ms(), s.getStopped_by_eos() != 0, s.getCancelled() != 0);
    } finally {
      s.delete();
    }
    List<List<Token>> tokens = new ArrayList<>();
    m4cxr_token_info t = new m4cxr_token_info();
    m4cxr_token_info a = new m4cxr_token_info();
    try {
      for (long turn = 0, nt = M4cxr.m4cxr_result_turn_count(r); turn < nt; ++turn) {
        List<Token> list = new ArrayList<>();
        for (long i = 0, n = M4cxr.m4cxr_result_token_count(r, turn); i < n; ++i) {
          Native.check(M4cxr.m4cxr_result_get_token(r, turn, i, t), "reading a token");
          List<Token> top = new ArrayList<>();
          for (long j = 0; j < t.getTop_count(); ++j) {
            Native.check(M4cxr.m4cxr_result_get_token_alternative(r, turn, i, j, a), "reading a token alternative");
            top.add(new Token(a.getId(), a.getText(), a.getLogprob(), Collections.<Token>emptyList()));
          }
          list.add(new Token(t.getId(), t.getText(), t.getLogprob(), top));
        }
        tokens.add(Collections.unmodifiableList(list));
      }
    } finally {
      t.delete();
      a.delete();
    }
    Map<String, Double> labelScores = new LinkedHashMap<>();  // keeps the question's order
    m4cxr_label_score ls = new m4cxr_label_score();
    try {
      for (long i = 0, n = M4cxr.m4cxr_result_label_score_count(r); i < n; ++i) {
        Native.check(M4cxr.m4cxr_result_get_label_score(r, i, ls), "reading a label score");
        labelScores.put(ls.getLabel(), ls.getScore());
      }
    } finally {
      ls.delete();
    }
    // The structured documents now: the native result is freed when this returns.
    byte[] fhir = document(r, 0), dicomSr = document(r, 1);
    return new Result(M4cxr.m4cxr_result_text(r), turns, findings, boxes, stats, M4cxr.m4cxr_result_json(r), tokens,
                      labelScores, fhir, dicomSr);
  }

  private static byte[] document(SWIGTYPE_p_m4cxr_result r, int dicomSr) {
    int[] status = new int[1];
    byte[] bytes = M4cxr.m4cxr_jni_result_document(r, dicomSr, null, status);
    Native.check(org.m4cxr.jni.m4cxr_status.swigToEnum(status[0]),
                 dicomSr != 0 ? "making the DICOM SR" : "making the FHIR bundle");
    return bytes;
  }

  /**
   * The result as a FHIR R4 Bundle (JSON, {@code m4cxr_result_to_fhir}): a preliminary
   * radiology DiagnosticReport (the text as conclusion and presented form; the DICOM study
   * and patient by their identifiers when the images came from DICOM), one Observation per
   * finding (present/absent, label score, boxes) and a Device naming the engine and model,
   * marked AI-generated (security label AIAST). Made when the result was collected: the
   * same text on every call.
   */
  public String toFhir() {
    return new String(fhir, java.nio.charset.StandardCharsets.UTF_8);
  }

  /**
   * The result as a DICOM Comprehensive SR Part-10 file ({@code m4cxr_result_to_dicom_sr}):
   * the source study and patient, the source instances as evidence, the text, one item per
   * finding and the boxes as regions on the source image. The same bytes (and SOP Instance
   * UID) on every call; a new array each time.
   */
  public byte[] toDicomSr() {
    return dicomSr.clone();
  }

  /** The final answer: the report for report tasks, otherwise the (only or last) turn's text. */
  public String text() {
    return text;
  }

  /** The generated text of each user turn of the task (two for chain-of-thought reports). */
  public List<String> turns() {
    return turns;
  }

  /** Findings named by a report's first turn or by a classification, as listed in the question. */
  public List<String> findings() {
    return findings;
  }

  /** Boxes parsed from a grounding answer (empty for other tasks). */
  public List<Box> boxes() {
    return boxes;
  }

  /** Token counts, timings, and whether the task was cancelled. */
  public Stats stats() {
    return stats;
  }

  /**
   * Per turn, the generated tokens with their log-probabilities and alternatives, when the
   * task ran with {@link GenerationOptions#logprobs(int)}; otherwise every list is empty.
   */
  public List<List<Token>> tokens() {
    return tokens;
  }

  /**
   * {label: score in [0, 1]} for every candidate of a report's findings turn or of a
   * classification, in the question's order (README "Confidence"): for a label among
   * {@link #findings()}, the probability of the tokens that wrote it; for another, the
   * highest probability the model gave to starting it where a label could start. Empty for
   * other tasks. Unmodifiable.
   */
  public Map<String, Double> labelScores() {
    return labelScores;
  }

  /** Everything above plus a replay record (checkpoint, image hashes, options, prompt and generated ids) as JSON. */
  public String json() {
    return json;
  }

  @Override
  public String toString() {
    return text;
  }
}
