package org.m4cxr;

/** What {@link Session#identifyRegion} asks about its boxes ({@code m4cxr_box_question}). */
public enum BoxQuestion {
  /** Grounded finding: one box. */
  FINDING,
  /** Grounded organ: one or more boxes. */
  ORGAN,
  /** Grounded anatomical region: one box. */
  REGION,
  /** Grounded phrase generation: one or more boxes. */
  PHRASE
}
