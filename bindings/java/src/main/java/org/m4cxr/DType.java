package org.m4cxr;

/**
 * Compute dtype of a model ({@code m4cxr_dtype}): BFLOAT16 (default), FLOAT32, or INT8 (the
 * decoder's projections and LM head as weight-only int8, quantized at load; compute in bf16).
 */
public enum DType {
  BFLOAT16,
  FLOAT32,
  INT8
}
