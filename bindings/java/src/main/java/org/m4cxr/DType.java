package org.m4cxr;

/** Compute dtype of a model ({@code m4cxr_dtype}). */
public enum DType {
  BFLOAT16,
  FLOAT32
}
