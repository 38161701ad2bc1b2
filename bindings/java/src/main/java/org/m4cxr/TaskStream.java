package org.m4cxr;

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
 * called from any thread.
 *
 * <p><b>Stopping.</b> {@link #cancel()} asks the model to stop: iteration then ends early and
 * {@link #result()} returns what was produced, with {@link Stats#cancelled()} set.
 * {@link #close()} stops and frees the task at once; iteration then ends (a piece that
 * {@link #hasNext()} already announced is still returned by {@link #next()}) and
 * {@link #result()} is no longer available unless the task had already finished.
 *
 * <p><b>Errors.</b> A failure while generating is thrown as {@link M4cxrException} from
 * {@link #hasNext()} (and again from {@link #result()}); the task is finished then.
 */
public final class TaskStream implements Iterator<String>, AutoCloseable {
  private final Session session;
  private final HandleGuard<SWIGTYPE_p_m4cxr_task> task;
  // All below only under the session's lock.
  private String pending;
  private int pendingTurn;
  private int turn = -1;
  private boolean finished;
  private boolean closed;
  private Result result;
  private M4cxrException failure;

  TaskStream(Session session, SWIGTYPE_p_m4cxr_task handle) {
    this.session = session;
    this.task = new HandleGuard<>("task", handle);
  }

  /** Whether another piece comes; runs the model until it is ready. */
  @Override
  public boolean hasNext() {
    session.lock();
    try {
      if (pending == null && !finished && !closed) pull();
      return pending != null;
    } finally {
      session.unlock();
    }
  }

  /** The next piece of text. */
  @Override
  public String next() {
    session.lock();
    try {
      if (!hasNext()) throw new NoSuchElementException();
      String p = pending;
      pending = null;
      turn = pendingTurn;
      return p;
    } finally {
      session.unlock();
    }
  }

  /** The 0-based user turn of the task that produced the piece last returned by {@link #next()} (-1 before). */
  public int turn() {
    session.lock();
    try {
      return turn;
    } finally {
      session.unlock();
    }
  }

  /**
   * Runs the task to its end (pieces not yet taken are dropped) and returns its result.
   *
   * @throws M4cxrException if generation failed
   * @throws IllegalStateException if the stream was closed before the task finished
   */
  public Result result() {
    session.lock();
    try {
      while (!finished && !closed) {
        pending = null;
        pull();
      }
      if (failure != null) throw failure;
      if (result == null) throw new IllegalStateException("the stream was closed before its task finished");
      return result;
    } finally {
      session.unlock();
    }
  }

  /** The pieces as a sequential {@link Stream}; closing the stream closes this object. */
  public Stream<String> stream() {
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL),
                                false)
        .onClose(this::close);
  }

  /** Asks the model to stop (within one transformer layer); any thread; returns at once. */
  public void cancel() {
    SWIGTYPE_p_m4cxr_task t = task.tryAcquire();
    if (t == null) return;
    try {
      M4cxr.m4cxr_task_cancel(t);
    } finally {
      task.release();
    }
  }

  /** Stops the task if it still runs and frees it; any thread; idempotent. */
  @Override
  public void close() {
    session.lockStopping(this::cancel);
    try {
      closeLocked();
    } finally {
      session.unlock();
    }
  }

  void closeLocked() {
    closed = true;  // a piece already announced by hasNext() is still handed out by next()
    freeTask();
  }

  private void pull() {
    SWIGTYPE_p_m4cxr_task t = task.tryAcquire();
    if (t == null) {
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
      finished = true;
      if (st == m4cxr_status.M4CXR_DONE) result = fetchResult(t);
      else failure = Native.error(st, "generating");
    } catch (M4cxrException e) {
      finished = true;
      failure = e;
    } finally {
      task.release();
    }
    freeTask();
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

  private void freeTask() {
    SWIGTYPE_p_m4cxr_task t = task.close();
    if (t != null) M4cxr.m4cxr_task_free(t);  // an unfinished task is cancelled and drained by the library
    session.streamDone(this);
  }
}
