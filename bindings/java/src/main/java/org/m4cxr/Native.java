package org.m4cxr;

import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.m4cxr_status;

/** Status checking shared by the classes of this package. */
final class Native {
  private Native() {}

  /** Throws the {@link M4cxrException} of a non-OK status; call right after the failing C call. */
  static void check(m4cxr_status st, String context) {
    if (st != m4cxr_status.M4CXR_OK) throw error(st, context);
  }

  static M4cxrException error(m4cxr_status st, String context) {
    // m4cxr_last_error() is per thread: this runs on the thread that made the failing call.
    return new M4cxrException(Status.of(st.swigValue()), M4cxr.m4cxr_last_error(), context);
  }
}
