package org.m4cxr;

import java.lang.ref.Reference;
import java.util.List;
import java.util.Objects;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_session;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_task;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_task_args;
import org.m4cxr.jni.m4cxr_generation_options;

/**
 * A conversation with its KV cache ({@code m4cxr_session}), made by {@link Model#session()}.
 *
 * <p><b>Tasks.</b> One method per task of the library's task table, generated into
 * {@link SessionTasks}: the plain form ({@link #report(List)}, {@link #vqa(Image, String)},
 * ...) runs the task to the end and returns its {@link Result}; the {@code ...Stream} form
 * returns a {@link TaskStream} that yields the text piece by piece as it is generated. Each
 * takes the {@link GenerationOptions} of that call as an optional last argument. Images are
 * given and boxes returned in original image pixels.
 *
 * <p><b>Conversations (patient safety).</b> Every task that brings its own images starts a
 * NEW conversation: nothing of earlier tasks on the session is in its prompt. To ask about
 * the same study again, use {@link #chat(String)} (which always continues) or pass
 * {@code GenerationOptions...continueConversation(true)}. {@link #appendTurn} restores an
 * earlier turn; {@link #reset()} forgets everything.
 *
 * <p><b>Threading.</b> A session is used by one thread at a time: a call while another
 * thread is inside a call on this session, or while a {@link TaskStream} of it is
 * unfinished, throws {@link M4cxrException} with {@link Status#BUSY} (the library decides).
 * {@link #cancel()} and {@link #close()} may be called from any thread at any time.
 * Different sessions of one model run in parallel.
 *
 * <p><b>Cancellation.</b> {@link #cancel()} stops the running task within one transformer
 * layer; the task then ends normally and its result holds what was produced, with
 * {@link Stats#cancelled()} set.
 *
 * <p><b>Ownership.</b> Holds native memory (the KV cache); {@link #close()} it (a session
 * that becomes unreachable unclosed is freed by the garbage collector's cleaner). Closing
 * stops an unfinished task of the session (its stream then ends without a result). The
 * session keeps the model's weights alive: it stays usable after {@link Model#close()}.
 */
public final class Session extends SessionTasks implements AutoCloseable {
  private final Model model;
  private final NativeRef<SWIGTYPE_p_m4cxr_session> ref;

  Session(Model model, SWIGTYPE_p_m4cxr_session handle) {
    this.model = model;
    this.ref = new NativeRef<>(this, "session", handle, M4cxr::m4cxr_session_free);
  }

  /** The model the session runs on. */
  public Model model() {
    return model;
  }

  // ---------------------------------------------------------------- conversation

  /**
   * Appends a complete earlier turn without running the model ({@code m4cxr_session_append_turn}):
   * restores a stored conversation, or replays a scripted dialogue with fixed earlier answers.
   * The next task continues after it ({@link #chat(String)}, or a typed task with
   * {@link GenerationOptions#continueConversation(boolean)}).
   *
   * @param userText the user message as upstream writes it, without the system message, with
   *     one {@code <image>} marker per entry of {@code images} (e.g. "radiology image:
   *     &lt;image&gt; Which of the following findings are present ...")
   * @param answer the assistant's reply
   * @param images the images of the turn, in marker order
   * @throws M4cxrException {@link Status#INVALID_ARGUMENT} (empty text, structural markers,
   *     marker count not the number of images), {@link Status#LIMIT}, {@link Status#BUSY}
   */
  public void appendTurn(String userText, String answer, List<Image> images) {
    Objects.requireNonNull(images, "images");
    SWIGTYPE_p_m4cxr_session h = ref.get();
    SWIGTYPE_p_m4cxr_image[] handles = new SWIGTYPE_p_m4cxr_image[images.size()];
    try {
      for (int i = 0; i < handles.length; ++i) handles[i] = checked(images.get(i)).handle();
      Native.check(M4cxr.m4cxr_session_append_turn(h, userText, answer, handles), "appending a turn");
    } finally {
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(images);
    }
  }

  /** {@link #appendTurn(String, String, List)} of a turn without images. */
  public void appendTurn(String userText, String answer) {
    appendTurn(userText, answer, List.of());
  }

  /** Forgets the conversation and drops the cached image embeddings (nothing of earlier patients stays). */
  public void reset() {
    try {
      Native.check(M4cxr.m4cxr_session_reset(ref.get()), "resetting the session");
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /**
   * Drops the cached image embeddings only ({@code m4cxr_session_clear_image_cache}); the
   * conversation goes on. The next task encodes its images again.
   */
  public void clearImageCache() {
    try {
      Native.check(M4cxr.m4cxr_session_clear_image_cache(ref.get()), "clearing the image cache");
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  // ---------------------------------------------------------------- control

  /**
   * Asks the running task to stop; any thread; returns at once. A task started after the
   * call is not affected (the library clears the request when a task starts). Does nothing
   * on a closed session.
   */
  public void cancel() {
    SWIGTYPE_p_m4cxr_session h = ref.peek();
    if (h != null) M4cxr.m4cxr_session_cancel(h);  // INVALID_HANDLE after a concurrent close: nothing to stop
    Reference.reachabilityFence(this);
  }

  /**
   * Frees the session ({@code m4cxr_session_free}); idempotent; any thread, also while
   * another thread runs a task of it: that task is asked to stop and its stream ends
   * without a result.
   */
  @Override
  public void close() {
    ref.close();
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return ref.isClosed();
  }

  @Override
  public String toString() {
    return "Session[" + (ref.isClosed() ? "closed" : "open") + "]";
  }

  // ---------------------------------------------------------------- internals

  /** The native handle; {@link IllegalStateException} once closed. */
  SWIGTYPE_p_m4cxr_session handle() {
    return ref.get();
  }

  private Image checked(Image image) {
    Objects.requireNonNull(image, "image");
    if (image.model() != model) throw new IllegalArgumentException("the image belongs to another model");
    return image;
  }

  /** Starts a task by its table name through {@code m4cxr_task_start}. */
  @Override
  TaskStream start(String task, TaskArgs args, GenerationOptions options) {
    for (Image im : args.images()) checked(im);
    SWIGTYPE_p_m4cxr_session h = ref.get();
    String context = "starting " + task.replace('_', ' ');
    SWIGTYPE_p_m4cxr_task_args[] a = new SWIGTYPE_p_m4cxr_task_args[1];
    Native.check(M4cxr.m4cxr_task_args_create(a), context);
    m4cxr_generation_options g = (options == null ? GenerationOptions.defaults() : options).toNative();
    try {
      args.addTo(a[0], context);
      SWIGTYPE_p_m4cxr_task[] out = new SWIGTYPE_p_m4cxr_task[1];
      Native.check(M4cxr.m4cxr_task_start(h, task, a[0], g, out), context);
      return new TaskStream(this, out[0]);
    } finally {
      g.delete();
      M4cxr.m4cxr_task_args_free(a[0]);
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(args);
    }
  }
}
