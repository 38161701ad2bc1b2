package org.m4cxr;

import java.lang.ref.Cleaner;
import java.util.function.Consumer;

/**
 * The native handle of a Java object and its release. No locking is needed: the C library's
 * handles are generation-checked tokens and its frees are deferred (a free while another
 * thread is inside a call on the object is safe, a stale handle is refused with
 * INVALID_HANDLE). The handle is released by {@link #close()} or, for an object that became
 * unreachable without being closed, by a {@link Cleaner}.
 */
final class NativeRef<H> {
  private static final Cleaner CLEANER = Cleaner.create();

  private final String what;
  private volatile H handle;
  private final Cleaner.Cleanable cleanable;

  /** {@code free} must not refer to {@code owner} (it would never become unreachable). */
  NativeRef(Object owner, String what, H handle, Consumer<H> free) {
    this.what = what;
    this.handle = handle;
    this.cleanable = CLEANER.register(owner, () -> free.accept(handle));
  }

  /** The handle; {@link IllegalStateException} once closed. */
  H get() {
    H h = handle;
    if (h == null) throw new IllegalStateException(what + " is closed");
    return h;
  }

  /** The handle, or null once closed. */
  H peek() {
    return handle;
  }

  boolean isClosed() {
    return handle == null;
  }

  /** Calls the C free (once; later calls do nothing). Any thread. */
  void close() {
    handle = null;
    cleanable.clean();
  }
}
