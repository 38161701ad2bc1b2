package org.m4cxr;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_session;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_task;
import org.m4cxr.jni.m4cxr_box_question;
import org.m4cxr.jni.m4cxr_generation_options;
import org.m4cxr.jni.m4cxr_status;

/**
 * A conversation with its KV cache ({@code m4cxr_session}), made by {@link Model#session()}.
 *
 * <p>One method per task of the paper, each building the exact upstream prompt. The plain
 * form ({@link #report(List)}, {@link #vqa(Image, String)}, ...) runs the task to the end
 * and returns its {@link Result}; the {@code ...Stream} form returns a {@link TaskStream}
 * that yields the text piece by piece as it is generated. A later task continues the same
 * conversation (e.g. {@link #chat(String)} after a report); {@link #reset()} forgets it.
 * Images are given and boxes returned in original image pixels.
 *
 * <p><b>Threading.</b> A session is used by one thread at a time: a task call while
 * another thread is inside a call on this session, or while a {@link TaskStream} of it is
 * unfinished, throws {@link M4cxrException} with {@link Status#BUSY}. {@link #cancel()} and
 * {@link #close()} may be called from any thread. Different sessions of one model run in
 * parallel.
 *
 * <p><b>Cancellation.</b> {@link #cancel()} stops the running task within one transformer
 * layer; the task then ends normally and its result holds what was produced, with
 * {@link Stats#cancelled()} set.
 *
 * <p><b>Ownership.</b> Holds native memory (the KV cache); {@link #close()} it. Closing
 * cancels and frees an unfinished stream of the session; closing the model closes the
 * session.
 */
public final class Session implements AutoCloseable {
  private final Model model;
  private final HandleGuard<SWIGTYPE_p_m4cxr_session> guard;
  private final ReentrantLock busy = new ReentrantLock();
  private volatile GenerationOptions options = GenerationOptions.defaults();
  private TaskStream current;  // the stream owning the session's native task; under busy

  Session(Model model, SWIGTYPE_p_m4cxr_session handle) {
    this.model = model;
    this.guard = new HandleGuard<>("session", handle);
  }

  /** The model the session runs on. */
  public Model model() {
    return model;
  }

  /** Decoding settings used by the tasks started from now on (default: the library's). Returns this. */
  public Session options(GenerationOptions options) {
    this.options = Objects.requireNonNull(options, "options");
    return this;
  }

  /** The decoding settings of the next task. */
  public GenerationOptions options() {
    return options;
  }

  // ---------------------------------------------------------------- tasks

  /** Chain-of-thought report: turn 1 lists the present CheXbert findings, turn 2 writes the report. 1-5 views of one study. */
  public Result report(List<Image> images) {
    return run(reportStream(images));
  }

  /** Streaming {@link #report(List)}: first the findings turn, then the report turn (see {@link TaskStream#turn()}). */
  public TaskStream reportStream(List<Image> images) {
    return start("report", images, (s, im, g, out) -> M4cxr.m4cxr_report(s, im, g, out));
  }

  /** Follow-up report: prior images, the prior report (cleaned as upstream) and the current images. */
  public Result reportFollowup(List<Image> prior, String priorReport, List<Image> current) {
    return run(reportFollowupStream(prior, priorReport, current));
  }

  /** Streaming {@link #reportFollowup}. */
  public TaskStream reportFollowupStream(List<Image> prior, String priorReport, List<Image> current) {
    final int n = prior.size();
    List<Image> all = new ArrayList<>(prior);
    all.addAll(current);
    return start("follow-up report", all, (s, im, g, out) -> M4cxr.m4cxr_report_followup(
        s, Arrays.copyOfRange(im, 0, n), priorReport, Arrays.copyOfRange(im, n, im.length), g, out));
  }

  /** Disease classification over the 13 CheXbert findings. */
  public Result classify(Image image) {
    return classify(image, null);
  }

  /** Disease classification over {@code labels} (null or empty: the 13 CheXbert findings). */
  public Result classify(Image image, List<String> labels) {
    return run(classifyStream(image, labels));
  }

  /** Streaming {@link #classify(Image, List)}. */
  public TaskStream classifyStream(Image image, List<String> labels) {
    String[] l = labels == null || labels.isEmpty() ? null : labels.toArray(new String[0]);
    return start("classify", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_classify(s, im[0], l, g, out));
  }

  /** Is {@code finding} present? If so its boxes. */
  public Result groundFinding(Image image, String finding) {
    return run(groundFindingStream(image, finding));
  }

  /** Streaming {@link #groundFinding}. */
  public TaskStream groundFindingStream(Image image, String finding) {
    return start("ground finding", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_ground_finding(s, im[0], finding, g, out));
  }

  /** Which of {@code findings} are present, with their boxes (labelled). */
  public Result groundFindings(Image image, List<String> findings) {
    return run(groundFindingsStream(image, findings));
  }

  /** Streaming {@link #groundFindings}. */
  public TaskStream groundFindingsStream(Image image, List<String> findings) {
    String[] f = findings.toArray(new String[0]);
    return start("ground findings", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_ground_findings(s, im[0], f, g, out));
  }

  /** Boxes of abnormal regions. */
  public Result detectAbnormalities(Image image) {
    return run(detectAbnormalitiesStream(image));
  }

  /** Streaming {@link #detectAbnormalities}. */
  public TaskStream detectAbnormalitiesStream(Image image) {
    return start("detect abnormalities", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_detect_abnormalities(s, im[0], g, out));
  }

  /** Boxes of an organ. */
  public Result groundOrgan(Image image, String organ) {
    return run(groundOrganStream(image, organ));
  }

  /** Streaming {@link #groundOrgan}. */
  public TaskStream groundOrganStream(Image image, String organ) {
    return start("ground organ", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_ground_organ(s, im[0], organ, g, out));
  }

  /** Box of the region a report phrase describes. */
  public Result groundPhrase(Image image, String phrase) {
    return run(groundPhraseStream(image, phrase));
  }

  /** Streaming {@link #groundPhrase}. */
  public TaskStream groundPhraseStream(Image image, String phrase) {
    return start("ground phrase", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_ground_phrase(s, im[0], phrase, g, out));
  }

  /** Box of an anatomical region. */
  public Result groundRegion(Image image, String region) {
    return run(groundRegionStream(image, region));
  }

  /** Streaming {@link #groundRegion}. */
  public TaskStream groundRegionStream(Image image, String region) {
    return start("ground region", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_ground_region(s, im[0], region, g, out));
  }

  /**
   * Boxes in, text out: names the finding, organ or region, or writes a report phrase, for
   * the given boxes, each x1, y1, x2, y2 in original image pixels.
   */
  public Result identifyRegion(Image image, BoxQuestion what, double[]... boxes) {
    return run(identifyRegionStream(image, what, boxes));
  }

  /** Streaming {@link #identifyRegion}. */
  public TaskStream identifyRegionStream(Image image, BoxQuestion what, double[]... boxes) {
    Objects.requireNonNull(what, "what");
    double[] flat = new double[boxes.length * 4];
    for (int i = 0; i < boxes.length; ++i) {
      if (boxes[i].length != 4) throw new IllegalArgumentException("a box is x1, y1, x2, y2");
      System.arraycopy(boxes[i], 0, flat, 4 * i, 4);
    }
    m4cxr_box_question q = m4cxr_box_question.swigToEnum(what.ordinal());
    return start("identify region", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_identify_region(s, im[0], q, flat, g, out));
  }

  /** Visual question answering. */
  public Result vqa(Image image, String question) {
    return run(vqaStream(image, question));
  }

  /** Streaming {@link #vqa}. */
  public TaskStream vqaStream(Image image, String question) {
    return start("vqa", List.of(image), (s, im, g, out) -> M4cxr.m4cxr_vqa(s, im[0], question, g, out));
  }

  /** Difference VQA: what changed from the {@code reference} (earlier) image to {@code main}. */
  public Result differenceVqa(Image reference, Image main, String question) {
    return run(differenceVqaStream(reference, main, question));
  }

  /** Streaming {@link #differenceVqa}. */
  public TaskStream differenceVqaStream(Image reference, Image main, String question) {
    return start("difference vqa", List.of(reference, main),
                 (s, im, g, out) -> M4cxr.m4cxr_difference_vqa(s, im[0], im[1], question, g, out));
  }

  /** A free user turn continuing the conversation (or starting it, without images). */
  public Result chat(String text) {
    return chat(text, List.of());
  }

  /**
   * A free user turn. On an empty conversation {@code images} are attached with the
   * "radiology image(s): &lt;image&gt; ..." prefix and the system message; afterwards the
   * conversation continues with bare text and {@code images} must be empty.
   */
  public Result chat(String text, List<Image> images) {
    return run(chatStream(text, images));
  }

  /** Streaming {@link #chat(String, List)}. */
  public TaskStream chatStream(String text, List<Image> images) {
    return start("chat", images, (s, im, g, out) -> M4cxr.m4cxr_chat(s, text, im, g, out));
  }

  // ---------------------------------------------------------------- control

  /** Forgets the conversation (encoded images stay cached). */
  public void reset() {
    if (!busy.tryLock()) throw Native.busy("the session is in use by another thread");
    try {
      SWIGTYPE_p_m4cxr_session h = guard.acquire();
      try {
        Native.check(M4cxr.m4cxr_session_reset(h), "resetting the session");
      } finally {
        guard.release();
      }
    } finally {
      busy.unlock();
    }
  }

  /**
   * Asks the running task to stop; any thread; returns at once. A task started after the
   * call is not affected (the library clears the request when a task starts). Does nothing
   * on a closed session.
   */
  public void cancel() {
    SWIGTYPE_p_m4cxr_session h = guard.tryAcquire();
    if (h == null) return;
    try {
      M4cxr.m4cxr_session_cancel(h);
    } finally {
      guard.release();
    }
  }

  /** Cancels a running task, waits for the thread driving it, frees the session. Idempotent; any thread. */
  @Override
  public void close() {
    lockStopping(this::cancel);
    try {
      if (current != null) current.closeLocked();
      SWIGTYPE_p_m4cxr_session h = guard.close();
      if (h == null) return;
      M4cxr.m4cxr_session_free(h);
    } finally {
      busy.unlock();
    }
    model.forget(this);
  }

  @Override
  public String toString() {
    return "Session[" + (guard.isClosed() ? "closed" : "open") + "]";
  }

  // ---------------------------------------------------------------- internals

  @FunctionalInterface
  private interface Starter {
    m4cxr_status start(SWIGTYPE_p_m4cxr_session s, SWIGTYPE_p_m4cxr_image[] images, m4cxr_generation_options g,
                       SWIGTYPE_p_m4cxr_task[] out);
  }

  private static Result run(TaskStream stream) {
    try (TaskStream s = stream) {
      return s.result();
    }
  }

  private TaskStream start(String what, List<Image> images, Starter starter) {
    Objects.requireNonNull(images, "images");
    for (Image im : images) {
      Objects.requireNonNull(im, "image");
      if (im.model() != model) throw new IllegalArgumentException("the image belongs to another model");
    }
    if (!busy.tryLock()) throw Native.busy("the session is in use by another thread");
    try {
      SWIGTYPE_p_m4cxr_session h = guard.acquire();
      SWIGTYPE_p_m4cxr_image[] handles = new SWIGTYPE_p_m4cxr_image[images.size()];
      int acquired = 0;
      m4cxr_generation_options g = options.toNative();
      try {
        for (; acquired < handles.length; ++acquired) handles[acquired] = images.get(acquired).acquire();
        SWIGTYPE_p_m4cxr_task[] out = new SWIGTYPE_p_m4cxr_task[1];
        Native.check(starter.start(h, handles, g, out), "starting " + what);
        current = new TaskStream(this, out[0]);
        return current;
      } finally {
        g.delete();
        for (int i = 0; i < acquired; ++i) images.get(i).release();
        guard.release();
      }
    } finally {
      busy.unlock();
    }
  }

  /** Locks for driving a task; blocks while another thread drives one. */
  void lock() {
    busy.lock();
  }

  void unlock() {
    busy.unlock();
  }

  /** Locks, calling {@code stop} until the thread now holding the lock lets go. */
  void lockStopping(Runnable stop) {
    if (busy.tryLock()) return;
    boolean interrupted = false;
    while (true) {
      stop.run();
      try {
        if (busy.tryLock(20, TimeUnit.MILLISECONDS)) break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
  }

  /** Called by a stream (under the lock) once its native task is freed. */
  void streamDone(TaskStream s) {
    if (current == s) current = null;
  }
}
