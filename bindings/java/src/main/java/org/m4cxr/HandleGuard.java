package org.m4cxr;

/**
 * The native handle of a Java object with a use count, so that {@code close()} on one
 * thread never frees a handle another thread is still passing to the C library.
 * Uses never block; {@link #close()} marks the object closed and waits until the uses
 * already running have ended.
 */
final class HandleGuard<H> {
  private final String what;
  private H handle;
  private int uses;

  HandleGuard(String what, H handle) {
    this.what = what;
    this.handle = handle;
  }

  /** Starts a use; pair it with {@link #release()}. Throws if closed. */
  synchronized H acquire() {
    if (handle == null) throw new IllegalStateException(what + " is closed");
    ++uses;
    return handle;
  }

  /** Like {@link #acquire()} but returns null instead of throwing when closed. */
  synchronized H tryAcquire() {
    if (handle == null) return null;
    ++uses;
    return handle;
  }

  synchronized void release() {
    if (--uses == 0) notifyAll();
  }

  synchronized boolean isClosed() {
    return handle == null;
  }

  /** Marks closed, waits for the running uses, and returns the handle to free (null if already closed). */
  synchronized H close() {
    H h = handle;
    handle = null;
    boolean interrupted = false;
    while (uses > 0) {
      try {
        wait();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) Thread.currentThread().interrupt();
    return h;
  }
}
