package org.m4cxr;

/**
 * How DICOM pixels become the model's 8-bit input ({@code m4cxr_dicom_conversion}). Every
 * mode applies the Modality LUT first and inverts MONOCHROME1 last.
 */
public enum DicomConversion {
  /** Default: as MIMIC-CXR-JPG, the training data, was made (min-max to 8 bits, histogram equalisation). */
  MIMIC_JPG,
  /** The file's first window centre/width (VOI LUT Function honoured); min-max when there is none. */
  VOI,
  /** Min-max to 8 bits only. */
  MIN_MAX
}
