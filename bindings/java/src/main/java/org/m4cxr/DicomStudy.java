package org.m4cxr;

import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;

/**
 * A study's DICOM views in report order, and its prior's ({@code m4cxr_dicom_order_study}):
 * PA, then AP, then lateral, then other and unknown views, the given order within each.
 *
 * @param current the current study's images, ordered
 * @param prior the prior study's images, ordered (empty when none was given)
 */
public record DicomStudy(List<Image> current, List<Image> prior) {
  /**
   * Orders {@code current} (one study read from DICOM) and {@code prior} (an earlier study
   * of the same patient, or an empty list).
   *
   * @throws M4cxrException {@link Status#INVALID_ARGUMENT} for several studies or patients in one
   *     list, images not read from DICOM, or a prior that is not an earlier study of the same patient
   */
  public static DicomStudy order(List<Image> current, List<Image> prior) {
    Objects.requireNonNull(current, "current");
    Objects.requireNonNull(prior, "prior");
    SWIGTYPE_p_m4cxr_image[] a = handles(current), b = handles(prior);
    int[] order = new int[a.length + b.length];
    try {
      Native.check(M4cxr.m4cxr_jni_dicom_order_study(a, b, order), "ordering a DICOM study");
    } finally {
      Reference.reachabilityFence(current);
      Reference.reachabilityFence(prior);
    }
    List<Image> c = new ArrayList<>(), p = new ArrayList<>();
    for (int i = 0; i < a.length; ++i) c.add(current.get(order[i]));
    for (int i = 0; i < b.length; ++i) p.add(prior.get(order[a.length + i]));
    return new DicomStudy(List.copyOf(c), List.copyOf(p));
  }

  private static SWIGTYPE_p_m4cxr_image[] handles(List<Image> images) {
    SWIGTYPE_p_m4cxr_image[] h = new SWIGTYPE_p_m4cxr_image[images.size()];
    for (int i = 0; i < h.length; ++i) h[i] = Objects.requireNonNull(images.get(i), "image").handle();
    return h;
  }
}
