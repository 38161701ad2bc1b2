package org.m4cxr;

/** Status codes of the C API ({@code m4cxr_status}); every non-OK one reaches Java as an {@link M4cxrException}. */
public enum Status {
  OK(0),
  /** Bad value, null, empty prompt, ... */
  INVALID_ARGUMENT(1),
  /** File missing or unreadable. */
  IO(2),
  /** Malformed file content (image, checkpoint, JSON). */
  FORMAT(3),
  /** Well-formed but not supported. */
  UNSUPPORTED(4),
  /** Input over a configured limit (pixels, tokens). */
  LIMIT(5),
  OUT_OF_MEMORY(6),
  CANCELLED(7),
  /** Object in use by another thread, or the session has an unfinished task. */
  BUSY(8),
  /** Checkpoint does not match the architecture. */
  MODEL(9),
  INTERNAL(10),
  /** Null, freed or wrong kind of handle. */
  INVALID_HANDLE(11),
  /** Not an error: a task has nothing more to produce. */
  DONE(100);

  private final int code;

  Status(int code) {
    this.code = code;
  }

  /** The numeric {@code m4cxr_status} value. */
  public int code() {
    return code;
  }

  /** The library's short description ({@code m4cxr_status_string}), e.g. "i/o error". */
  public String description() {
    return org.m4cxr.jni.M4cxr.m4cxr_status_string(org.m4cxr.jni.m4cxr_status.swigToEnum(code));
  }

  /** The status with this numeric code ({@link #INTERNAL} for an unknown one). */
  public static Status of(int code) {
    for (Status s : values())
      if (s.code == code) return s;
    return INTERNAL;
  }
}
