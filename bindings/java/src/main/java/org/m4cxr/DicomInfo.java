package org.m4cxr;

/**
 * What an {@link Image} read from DICOM keeps ({@code m4cxr_image_get_dicom_field}):
 * identifiers as in the file ("" when absent), {@code view} resolved as "PA", "AP",
 * "LATERAL", "OTHER" or "" (unknown), and the {@code conversion} applied ("mimic_jpg",
 * "voi", "min_max" or "color").
 */
public record DicomInfo(String studyInstanceUid, String seriesInstanceUid, String sopInstanceUid, String patientId,
                        String viewPosition, String view, String studyDate, String studyTime, String modality,
                        String transferSyntaxUid, String conversion) {}
