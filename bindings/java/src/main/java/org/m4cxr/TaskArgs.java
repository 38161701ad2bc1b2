package org.m4cxr;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_task_args;
import org.m4cxr.jni.m4cxr_status;

/**
 * The named arguments of one task call, collected by the generated task methods of
 * {@link SessionTasks} and handed to {@code m4cxr_task_start} as an {@code m4cxr_task_args}.
 * The conversions of Java values (images, boxes, enums) live here.
 *
 * <p>An optional argument given as null is left out (the library applies the table's
 * default). A required one given as null: a null image, list or box array throws
 * {@link NullPointerException}; a null text goes to the library, which refuses it with
 * {@link Status#INVALID_ARGUMENT}.
 */
final class TaskArgs {
  private interface Add {
    m4cxr_status add(SWIGTYPE_p_m4cxr_task_args args);
  }

  private final List<Add> adds = new ArrayList<>();
  private final List<Image> images = new ArrayList<>();

  TaskArgs image(String name, Image image, boolean optional) {
    if (image == null && optional) return this;
    Objects.requireNonNull(image, name);
    images.add(image);
    adds.add(a -> M4cxr.m4cxr_task_args_add_image(a, name, image.handle()));
    return this;
  }

  TaskArgs images(String name, List<Image> list, boolean optional) {
    if (list == null && optional) return this;
    Objects.requireNonNull(list, name);
    for (Image im : list) image(name, Objects.requireNonNull(im, "image"), false);
    return this;
  }

  TaskArgs text(String name, String text, boolean optional) {
    if (text == null && optional) return this;
    adds.add(a -> M4cxr.m4cxr_task_args_add_text(a, name, text));
    return this;
  }

  TaskArgs texts(String name, List<String> list, boolean optional) {
    if (list == null && optional) return this;
    Objects.requireNonNull(list, name);
    for (String s : list) text(name, s, false);
    return this;
  }

  /** Each box is x1, y1, x2, y2 in original image pixels. */
  TaskArgs boxes(String name, double[][] boxes, boolean optional) {
    if (boxes == null && optional) return this;
    Objects.requireNonNull(boxes, name);
    for (double[] b : boxes) {
      if (Objects.requireNonNull(b, "box").length != 4) throw new IllegalArgumentException("a box is x1, y1, x2, y2");
      double[] copy = b.clone();
      adds.add(a -> M4cxr.m4cxr_task_args_add_box(a, name, copy));
    }
    return this;
  }

  TaskArgs choice(String name, String value, boolean optional) {
    return text(name, value, optional);
  }

  /** An enum choice (e.g. {@link BoxQuestion}): its constant's name in lower case. */
  TaskArgs choice(String name, Enum<?> value, boolean optional) {
    if (value == null && optional) return this;
    Objects.requireNonNull(value, name);
    return text(name, value.name().toLowerCase(Locale.ROOT), false);
  }

  TaskArgs flag(String name, boolean value) {
    adds.add(a -> M4cxr.m4cxr_task_args_set_flag(a, name, value ? 1 : 0));
    return this;
  }

  /** The images given, for the session's checks. */
  List<Image> images() {
    return images;
  }

  /** Adds everything to the native list; throws the first failure. */
  void addTo(SWIGTYPE_p_m4cxr_task_args args, String context) {
    for (Add add : adds) Native.check(add.add(args), context);
  }
}
