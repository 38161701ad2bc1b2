package org.m4cxr;

import java.lang.ref.Reference;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_result;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_task;
import org.m4cxr.jni.m4cxr_status;

/**
 * A running task ({@code m4cxr_task}) pulled piece by piece: each {@link #next()} runs the
 * model until the next piece of text (complete UTF-8) is ready. Made by the
 * {@code ...Stream} methods of {@link Session}.
 *
 * <pre>{@code
 * try (TaskStream s = session.reportStream(List.of(image))) {
 *   while (s.hasNext()) System.out.print(s.next());
 *   Result r = s.result();
 * }
 * }</pre>
 *
 * <p>The pieces of each turn concatenate to that turn's text in the {@link #result()}.
 * When the task ends, its native task is freed and the result kept, so the session is free
 * for the next task; until then the session refuses other tasks ({@link Status#BUSY}).
 *
 * <p><b>Threading.</b> Driven by one thread at a time ({@link #hasNext()}, {@link #next()},
 * {@link #result()} from another thread wait). {@link #cancel()} and {@link #close()} may be
 * called from any thread at any time, also while another thread is pulling a piece (the
 * library then stops the task; the pulling thread's iteration ends).
 *
 * <p><b>Stopping.</b> {@link #cancel()} asks the model to stop: iteration then ends early and
 * {@link #result()} returns what was produced, with {@link Stats#cancelled()} set.
 * {@link #close()} stops and frees the task at once; iteration then ends (a piece that
 * {@link #hasNext()} already announced is still returned by {@link #next()}) and
 * {@link #result()} is no longer available unless the task had already finished. The same
 * happens when the session is closed. An unclosed stream that becomes unreachable is freed
 * by the garbage collector's cleaner.
 *
 * <p><b>Errors.</b> A failure while generating is thrown as {@link M4cxrException} from
 * {@link #hasNext()} (and again from {@link #result()}); the task is finished then.
 */
public final class TaskStream implements Iterator<String>, Iterable<String>, AutoCloseable {
  private final Session session;
  private final NativeRef<SWIGTYPE_p_m4cxr_task> task;
  private volatile boolean closed;
  // The iteration state, under this object's monitor (the driving thread).
  private String pending;
  private int pendingTurn;
  private int turn = -1;
  private boolean finished;
  private Result result;
  private M4cxrException failure;

  TaskStream(Session session, SWIGTYPE_p_m4cxr_task handle) {
    this.session = session;
    this.task = new NativeRef<>(this, "task", handle, M4cxr::m4cxr_task_free);
  }

  /** Runs {@code stream} to its end, closes it and returns its result (the plain task methods). */
  static Result runToEnd(TaskStream stream) {
    try (TaskStream s = stream) {
      return s.result();
    }
  }

  /**
   * This stream itself, so that {@code for (String piece : session.vqaStream(...))} works.
   * A stream is iterated once: a second loop continues where the first stopped.
   */
  @Override
  public Iterator<String> iterator() {
    return this;
  }

  /** Whether another piece comes; runs the model until it is ready. */
  @Override
  public synchronized boolean hasNext() {
    if (pending == null && !finished) pull();
    return pending != null;
  }

  /** The next piece of text. */
  @Override
  public synchronized String next() {
    if (!hasNext()) throw new NoSuchElementException();
    String p = pending;
    pending = null;
    turn = pendingTurn;
    return p;
  }

  /** The 0-based user turn of the task that produced the piece last returned by {@link #next()} (-1 before). */
  public synchronized int turn() {
    return turn;
  }

  /**
   * Runs the task to its end (pieces not yet taken are dropped) and returns its result.
   *
   * @throws M4cxrException if generation failed
   * @throws IllegalStateException if the stream or its session was closed before the task finished
   */
  public synchronized Result result() {
    while (!finished) {
      pending = null;
      pull();
    }
    if (failure != null) throw failure;
    if (result == null)
      throw new IllegalStateException((closed ? "the stream" : "its session") + " was closed before its task finished");
    return result;
  }

  /** The pieces as a sequential {@link Stream}; closing the stream closes this object. */
  public Stream<String> stream() {
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL),
                                false)
        .onClose(this::close);
  }

  /** Asks the model to stop (within one transformer layer); any thread; returns at once. */
  public void cancel() {
    SWIGTYPE_p_m4cxr_task t = task.peek();
    if (t != null) M4cxr.m4cxr_task_cancel(t);  // INVALID_HANDLE once freed: nothing to stop
    Reference.reachabilityFence(this);
  }

  /**
   * Stops the task if it still runs and frees it ({@code m4cxr_task_free}); any thread, also
   * while another thread pulls a piece; idempotent.
   */
  @Override
  public void close() {
    closed = true;  // a piece already announced by hasNext() is still handed out by next()
    task.close();
  }

  /** Pulls the next piece (or the end) into the iteration state; under the monitor. */
  private void pull() {
    SWIGTYPE_p_m4cxr_task t = task.peek();
    if (t == null || closed) {
      finished = true;
      return;
    }
    try {
      String[] piece = new String[1];
      int[] turnOut = new int[1];
      m4cxr_status st = M4cxr.m4cxr_task_next(t, piece, turnOut);
      if (st == m4cxr_status.M4CXR_OK) {
        pending = piece[0];
        pendingTurn = turnOut[0];
        return;
      }
      if (st == m4cxr_status.M4CXR_ERR_BUSY) throw Native.error(st, "generating");  // transient: the stream goes on
      if (st == m4cxr_status.M4CXR_DONE) result = fetchResult(t);
      else failure = Native.error(st, "generating");
    } catch (M4cxrException e) {
      if (e.status() == Status.BUSY) throw e;
      failure = e;
    } finally {
      Reference.reachabilityFence(this);
    }
    finished = true;
    // Freed by close() or with the session from another thread: the iteration just ends.
    if (failure != null && failure.status() == Status.INVALID_HANDLE && (closed || session.isClosed())) failure = null;
    task.close();  // the session is free for the next task
    if (failure != null) throw failure;
  }

  private static Result fetchResult(SWIGTYPE_p_m4cxr_task t) {
    SWIGTYPE_p_m4cxr_result[] out = new SWIGTYPE_p_m4cxr_result[1];
    Native.check(M4cxr.m4cxr_task_result(t, out), "reading the result");
    try {
      return Result.copyOf(out[0]);
    } finally {
      M4cxr.m4cxr_result_free(out[0]);
    }
  }
}
