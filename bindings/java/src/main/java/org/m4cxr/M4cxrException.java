package org.m4cxr;

/**
 * A failing call of the C API: its {@link Status} and the library's message
 * ({@code m4cxr_last_error()}, read on the failing thread right after the call).
 *
 * <p>Unchecked, so that it can leave {@link java.util.Iterator#hasNext()},
 * {@link AutoCloseable#close()} and stream pipelines. Misuse of the Java objects
 * themselves (a closed object, a wrong argument type) raises the usual
 * {@link IllegalStateException} / {@link IllegalArgumentException} /
 * {@link NullPointerException} instead.
 */
public class M4cxrException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Status status;
  private final String nativeMessage;

  /**
   * @param status the failing status
   * @param nativeMessage the library's message ("" if none)
   * @param context what the binding was doing, e.g. "loading the model"
   */
  public M4cxrException(Status status, String nativeMessage, String context) {
    super(context + ": " + status.description()
          + (nativeMessage == null || nativeMessage.isEmpty() ? "" : ": " + nativeMessage));
    this.status = status;
    this.nativeMessage = nativeMessage == null ? "" : nativeMessage;
  }

  /** The status of the failing call. */
  public Status status() {
    return status;
  }

  /** The numeric status code ({@code m4cxr_status}). */
  public int code() {
    return status.code();
  }

  /** The C library's message ({@code m4cxr_last_error()}), "" if it gave none. */
  public String nativeMessage() {
    return nativeMessage;
  }
}
