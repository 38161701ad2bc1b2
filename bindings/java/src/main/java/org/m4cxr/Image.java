package org.m4cxr;

import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.m4cxr_status;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;

/**
 * A decoded, preprocessed image of one {@link Model} ({@code m4cxr_image}). Keeps its
 * original size (boxes are given and returned in original pixels) and a content hash.
 *
 * <p><b>Threading.</b> Immutable: may be shared between threads and sessions.
 *
 * <p><b>Ownership.</b> Holds native memory; {@link #close()} it (an image that becomes
 * unreachable unclosed is freed by the garbage collector's cleaner). It stays usable after
 * its model is closed. A task that already started keeps its own reference to the pixels,
 * so an image may be closed while a stream over it is still running.
 */
public final class Image implements AutoCloseable {
  private final Model model;
  private final NativeRef<SWIGTYPE_p_m4cxr_image> ref;
  private final int width;
  private final int height;
  private final String hash;
  private final DicomInfo dicom;

  private Image(Model model, SWIGTYPE_p_m4cxr_image handle, int width, int height, String hash, DicomInfo dicom) {
    this.model = model;
    this.ref = new NativeRef<>(this, "image", handle, M4cxr::m4cxr_image_free);
    this.width = width;
    this.height = height;
    this.hash = hash;
    this.dicom = dicom;
  }

  /** The DICOM fields of h, or null for an image not read from DICOM. */
  private static DicomInfo readDicom(SWIGTYPE_p_m4cxr_image h) {
    if (M4cxr.m4cxr_image_is_dicom(h) == 0) return null;
    String[] v = new String[11];
    for (int f = 0; f < v.length; ++f) {
      int[] status = new int[1];
      byte[] bytes = M4cxr.m4cxr_jni_dicom_field(h, f, status);
      Native.check(m4cxr_status.swigToEnum(status[0]), "reading a DICOM field");
      v[f] = new String(bytes, StandardCharsets.UTF_8);
    }
    return new DicomInfo(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
  }

  static Image wrap(Model model, SWIGTYPE_p_m4cxr_image h) {
    int[] w = new int[1];
    int[] hh = new int[1];
    try {
      Native.check(M4cxr.m4cxr_image_get_size(h, w, hh), "reading the image size");
      return new Image(model, h, w[0], hh[0], M4cxr.m4cxr_image_hash(h), readDicom(h));
    } catch (RuntimeException e) {
      M4cxr.m4cxr_image_free(h);
      throw e;
    }
  }

  /** The model the image was prepared for. */
  public Model model() {
    return model;
  }

  /** Original width in pixels. */
  public int width() {
    return width;
  }

  /** Original height in pixels. */
  public int height() {
    return height;
  }

  /** Identifiers and view of an image read from DICOM ({@link Model#dicom(Path)}); empty for other images. */
  public Optional<DicomInfo> dicom() {
    return Optional.ofNullable(dicom);
  }

  /** Hex SHA-256 of the decoded RGB pixels and size. */
  public String hash() {
    return hash;
  }

  /** Converts a box x1, y1, x2, y2 in original pixels to the model's 0-100 frame (upstream normalize_bbox). */
  public int[] pixelsToModel(double[] box) {
    Objects.requireNonNull(box, "box");
    int[] out = new int[4];
    try {
      Native.check(M4cxr.m4cxr_image_pixels_to_model(handle(), box, out), "converting a box");
    } finally {
      Reference.reachabilityFence(this);
    }
    return out;
  }

  /** Converts a box x1, y1, x2, y2 in the model's 0-100 frame to original pixels (upstream norm2origin_box). */
  public double[] modelToPixels(int[] box) {
    Objects.requireNonNull(box, "box");
    double[] out = new double[4];
    try {
      Native.check(M4cxr.m4cxr_image_model_to_pixels(handle(), box, out), "converting a box");
    } finally {
      Reference.reachabilityFence(this);
    }
    return out;
  }

  /** The native handle; {@link IllegalStateException} once closed. */
  SWIGTYPE_p_m4cxr_image handle() {
    return ref.get();
  }

  /** Frees the native image ({@code m4cxr_image_free}); idempotent; any thread, also while a task uses it. */
  @Override
  public void close() {
    ref.close();
  }

  @Override
  public String toString() {
    return "Image[" + width + "x" + height + " " + hash.substring(0, Math.min(12, hash.length())) + "]";
  }
}
