package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** DICOM input from Java: files written here (explicit VR little endian, synthetic pixels and identifiers). */
public class DicomTest {
  private static byte[] element(int group, int elem, String vr, byte[] value) {
    if (value.length % 2 == 1) value = Arrays.copyOf(value, value.length + 1);  // UI pads with NUL
    boolean lng = vr.equals("OB") || vr.equals("OW");
    ByteBuffer b = ByteBuffer.allocate((lng ? 12 : 8) + value.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putShort((short) group).putShort((short) elem).put(vr.getBytes(StandardCharsets.US_ASCII));
    if (lng) b.putShort((short) 0).putInt(value.length);
    else b.putShort((short) value.length);
    return b.put(value).array();
  }

  private static byte[] text(String s) {
    byte[] v = s.getBytes(StandardCharsets.US_ASCII);
    if (v.length % 2 == 1) {
      v = Arrays.copyOf(v, v.length + 1);
      v[v.length - 1] = ' ';
    }
    return v;
  }

  private static byte[] us(int v) {
    return ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v).array();
  }

  /** A 20 x 16 12-bit MONOCHROME2 radiograph with the given view, study and date. */
  static byte[] dicom(String view, String modality, String study, String sop, String date) {
    int rows = 16, cols = 20;
    ByteBuffer px = ByteBuffer.allocate(rows * cols * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < rows * cols; ++i) px.putShort((short) ((i * 37) % 4096));
    ByteArrayOutputStream meta = new ByteArrayOutputStream(), ds = new ByteArrayOutputStream();
    meta.writeBytes(element(2, 1, "OB", new byte[] {0, 1}));
    meta.writeBytes(element(2, 2, "UI", text("1.2.840.10008.5.1.4.1.1.1.1")));
    meta.writeBytes(element(2, 3, "UI", text(sop)));
    meta.writeBytes(element(2, 0x10, "UI", "1.2.840.10008.1.2.1".getBytes(StandardCharsets.US_ASCII)));
    ds.writeBytes(element(8, 0x18, "UI", sop.getBytes(StandardCharsets.US_ASCII)));
    ds.writeBytes(element(8, 0x20, "DA", text(date)));
    ds.writeBytes(element(8, 0x60, "CS", text(modality)));
    ds.writeBytes(element(0x10, 0x20, "LO", text("SYNTH-JAVA")));
    ds.writeBytes(element(0x18, 0x5101, "CS", text(view)));
    ds.writeBytes(element(0x20, 0x0D, "UI", study.getBytes(StandardCharsets.US_ASCII)));
    ds.writeBytes(element(0x28, 2, "US", us(1)));
    ds.writeBytes(element(0x28, 4, "CS", text("MONOCHROME2")));
    ds.writeBytes(element(0x28, 0x10, "US", us(rows)));
    ds.writeBytes(element(0x28, 0x11, "US", us(cols)));
    ds.writeBytes(element(0x28, 0x100, "US", us(16)));
    ds.writeBytes(element(0x28, 0x101, "US", us(12)));
    ds.writeBytes(element(0x28, 0x102, "US", us(11)));
    ds.writeBytes(element(0x28, 0x103, "US", us(0)));
    ds.writeBytes(element(0x7fe0, 0x10, "OW", px.array()));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[128]);
    out.writeBytes("DICM".getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(element(2, 0, "UL", ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(meta.size()).array()));
    out.writeBytes(meta.toByteArray());
    out.writeBytes(ds.toByteArray());
    return out.toByteArray();
  }

  private static final String STUDY = "1.2.826.0.1.3680043.10.1234.8";

  @Test
  public void fileAndBytesKeepIdentifiers() throws Exception {
    Model model = TestSupport.model();
    byte[] data = dicom("LL", "DX", STUDY, "1.2.826.0.1.3680043.10.1234.8.1", "20220202");
    Path file = Files.createTempFile("m4cxr-dicom", ".dcm");
    Files.write(file, data);
    try (Image a = model.dicom(file);
         Image b = model.dicom(data, DicomConversion.MIMIC_JPG, false, false, false);
         Image c = model.dicom(data, DicomConversion.MIN_MAX, false, false, false)) {
      assertEquals(a.hash(), b.hash());
      assertFalse(a.hash().equals(c.hash()));
      assertEquals(20, a.width());
      DicomInfo d = a.dicom().orElseThrow();
      assertEquals("SYNTH-JAVA", d.patientId());
      assertEquals("LATERAL", d.view());
      assertEquals("LL", d.viewPosition());
      assertEquals(STUDY, d.studyInstanceUid());
      assertEquals("1.2.826.0.1.3680043.10.1234.8.1", d.sopInstanceUid());
      assertEquals("mimic_jpg", d.conversion());
      assertEquals("min_max", c.dicom().orElseThrow().conversion());
    } finally {
      Files.delete(file);
    }
  }

  @Test
  public void refusalsAndOverrides() {
    Model model = TestSupport.model();
    byte[] ct = dicom("PA", "CT", STUDY, "1.2.826.0.1.3680043.10.1234.8.2", "20220202");
    M4cxrException e = assertThrows(M4cxrException.class,
                                    () -> model.dicom(ct, DicomConversion.MIMIC_JPG, false, false, false));
    assertEquals(Status.UNSUPPORTED, e.status());
    assertTrue(e.nativeMessage(), e.nativeMessage().contains("allow_any_modality"));
    try (Image im = model.dicom(ct, DicomConversion.MIMIC_JPG, false, true, false)) {
      assertEquals("CT", im.dicom().orElseThrow().modality());
    }
    byte[] cut = Arrays.copyOf(ct, ct.length / 2);
    M4cxrException f = assertThrows(M4cxrException.class,
                                    () -> model.dicom(cut, DicomConversion.MIMIC_JPG, false, true, false));
    assertEquals(Status.FORMAT, f.status());
  }

  /** Result.toFhir / toDicomSr (m4cxr_result_to_fhir / _to_dicom_sr) of a two-view DICOM report. */
  @Test
  public void reportToFhirAndDicomSr() {
    Model model = TestSupport.model();
    try (Image pa = model.dicom(dicom("PA", "DX", STUDY, "1.2.826.0.1.3680043.10.1234.8.5", "20220202"),
                                DicomConversion.MIMIC_JPG, false, false, false);
         Image lat = model.dicom(dicom("LL", "DX", STUDY, "1.2.826.0.1.3680043.10.1234.8.6", "20220202"),
                                 DicomConversion.MIMIC_JPG, false, false, false);
         Session s = model.session()) {
      Result r = s.report(List.of(pa, lat), GenerationOptions.greedy(3));
      String fhir = r.toFhir();
      assertEquals(fhir, r.toFhir());
      assertTrue(fhir, fhir.contains("\"resourceType\": \"Bundle\""));
      assertTrue(fhir, fhir.contains("\"resourceType\": \"DiagnosticReport\""));
      assertTrue(fhir, fhir.contains("\"status\": \"preliminary\""));
      assertTrue(fhir, fhir.contains("\"urn:oid:" + STUDY + "\""));
      assertTrue(fhir, fhir.contains("\"SYNTH-JAVA\""));
      assertTrue(fhir, fhir.contains("\"AIAST\""));
      assertTrue(fhir, fhir.contains("\"36643-5\""));  // two views: XR Chest 2 Views
      byte[] sr = r.toDicomSr();
      assertEquals("DICM", new String(sr, 128, 4, StandardCharsets.US_ASCII));
      String raw = new String(sr, StandardCharsets.ISO_8859_1);
      assertTrue(raw.contains("1.2.840.10008.5.1.4.1.1.88.33"));  // Comprehensive SR
      assertTrue(raw.contains(STUDY));
      assertTrue(raw.contains("SYNTH-JAVA"));  // the patient module of the source study
      // These files have no Series Instance UID, so they cannot be listed as evidence.
      assertFalse(raw.contains("1.2.826.0.1.3680043.10.1234.8.6"));
      sr[200] ^= 1;
      assertEquals("a copy each time", r.toDicomSr()[200] ^ 1, sr[200]);
    }
  }

  @Test
  public void studyOrderAndPrior() {
    Model model = TestSupport.model();
    try (Image lat = model.dicom(dicom("LL", "DX", STUDY, "1.2.826.0.1.3680043.10.1234.8.3", "20220202"),
                                 DicomConversion.MIMIC_JPG, false, false, false);
         Image pa = model.dicom(dicom("PA", "DX", STUDY, "1.2.826.0.1.3680043.10.1234.8.4", "20220202"),
                                DicomConversion.MIMIC_JPG, false, false, false);
         Image old = model.dicom(dicom("AP", "DX", STUDY + ".0", "1.2.826.0.1.3680043.10.1234.80.1", "20210101"),
                                 DicomConversion.MIMIC_JPG, false, false, false)) {
      DicomStudy s = DicomStudy.order(List.of(lat, pa), List.of(old));
      assertEquals(List.of(pa, lat), s.current());
      assertEquals(List.of(old), s.prior());
      M4cxrException e = assertThrows(M4cxrException.class, () -> DicomStudy.order(List.of(old), List.of(lat)));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.nativeMessage(), e.nativeMessage().contains("not earlier"));
    }
  }
}
