package org.m4cxr;

import java.util.Arrays;

/**
 * A box found by a grounding task: its label, the model's 0-100 coordinates and the same
 * box in original image pixels, both as x1, y1, x2, y2. Immutable.
 */
public final class Box {
  private final String label;
  private final int[] model;
  private final double[] pixels;
  private final int imageIndex;
  private final double probability;

  /**
   * @param label finding/organ name or ""
   * @param model x1, y1, x2, y2 in the model's 0-100 frame
   * @param pixels x1, y1, x2, y2 in original image pixels
   * @param imageIndex index into the task's images the box refers to
   */
  public Box(String label, int[] model, double[] pixels, int imageIndex) {
    this(label, model, pixels, imageIndex, 0.0);
  }

  /**
   * @param label finding/organ name or ""
   * @param model x1, y1, x2, y2 in the model's 0-100 frame
   * @param pixels x1, y1, x2, y2 in original image pixels
   * @param imageIndex index into the task's images the box refers to
   * @param probability probability of the tokens that wrote the box, in [0, 1]
   */
  public Box(String label, int[] model, double[] pixels, int imageIndex, double probability) {
    if (model.length != 4 || pixels.length != 4) throw new IllegalArgumentException("a box has 4 coordinates");
    this.label = label;
    this.model = model.clone();
    this.pixels = pixels.clone();
    this.imageIndex = imageIndex;
    this.probability = probability;
  }

  /** Finding/organ name, or "" when the task has none. */
  public String label() {
    return label;
  }

  /** x1, y1, x2, y2 in the model's 0-100 frame (a copy). */
  public int[] model() {
    return model.clone();
  }

  /** x1, y1, x2, y2 in original image pixels (a copy). */
  public double[] pixels() {
    return pixels.clone();
  }

  /** Index into the task's images the box refers to. */
  public int imageIndex() {
    return imageIndex;
  }

  /**
   * The probability, in [0, 1], of the generated tokens that wrote this box's text
   * "[x1,y1,x2,y2]" (m4cxr_box.probability; README "Confidence").
   */
  public double probability() {
    return probability;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Box)) return false;
    Box b = (Box) o;
    return label.equals(b.label) && Arrays.equals(model, b.model) && Arrays.equals(pixels, b.pixels)
        && imageIndex == b.imageIndex && Double.compare(probability, b.probability) == 0;
  }

  @Override
  public int hashCode() {
    return (label.hashCode() * 31 + Arrays.hashCode(model)) * 31 + imageIndex;
  }

  @Override
  public String toString() {
    return "Box[" + label + " model=" + Arrays.toString(model) + " pixels=" + Arrays.toString(pixels) + " image="
        + imageIndex + " p=" + probability + "]";
  }
}
