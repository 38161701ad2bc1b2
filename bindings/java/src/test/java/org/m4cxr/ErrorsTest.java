package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.Test;

/** Failures of the C API arrive as M4cxrException with status and message; misuse of Java objects as the usual exceptions. */
public class ErrorsTest {
  @Test
  public void libraryLoadedFromTheSystemProperty() {
    // CMake runs this class with -Dm4cxr.library=<path of libm4cxr_jni.so> and no java.library.path
    assertNotNull(System.getProperty("m4cxr.library"));
    assertTrue(Model.version().length() > 0);
  }

  @Test
  public void missingModelFolder() {
    M4cxrException e = assertThrows(M4cxrException.class, () -> Model.load(Path.of("/nonexistent/model")));
    assertEquals(Status.IO, e.status());
    assertEquals(2, e.code());
    assertTrue(e.nativeMessage(), e.nativeMessage().contains("/nonexistent/model"));
    assertTrue(e.getMessage(), e.getMessage().contains("i/o error"));
    assertTrue(e.getMessage(), e.getMessage().contains(e.nativeMessage()));
  }

  @Test
  public void corruptAndMissingImages() throws Exception {
    Model model = TestSupport.model();
    byte[] junk = {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3};
    M4cxrException e = assertThrows(M4cxrException.class, () -> model.image(junk));
    assertEquals(Status.FORMAT, e.status());
    assertTrue(e.nativeMessage().length() > 0);

    Path file = Files.createTempFile("m4cxr-corrupt", ".png");
    try {
      Files.write(file, junk);
      e = assertThrows(M4cxrException.class, () -> model.image(file));
      assertEquals(Status.FORMAT, e.status());
      assertTrue(e.getMessage(), e.getMessage().contains(file.toString()));
    } finally {
      Files.delete(file);
    }
    e = assertThrows(M4cxrException.class, () -> model.image(TestSupport.imagePath("missing.png")));
    assertEquals(Status.IO, e.status());
    assertTrue(e.nativeMessage().length() > 0);
    e = assertThrows(M4cxrException.class, () -> model.image(new byte[0]));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
  }

  @Test
  public void badArgumentsLeaveTheSessionUsable() {
    try (Image im = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
         Session s = TestSupport.model().session()) {
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class, () -> s.report(List.of())).status());
      assertEquals(Status.INVALID_ARGUMENT,
                   assertThrows(M4cxrException.class, () -> s.report(List.of(im, im, im, im, im, im))).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class, () -> s.chat("")).status());
      M4cxrException e = assertThrows(M4cxrException.class, () -> s.vqa(im, "sneaky <image> injection"));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.nativeMessage().length() > 0);
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class, () -> s.vqa(im, null)).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.identifyRegion(im, BoxQuestion.FINDING, new double[] {10, 10, 5, 5})).status());
      assertEquals(Status.INVALID_ARGUMENT,
                   assertThrows(M4cxrException.class, () -> s.vqa(im, "ok?", GenerationOptions.greedy(0))).status());
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.vqa(im, "ok?", GenerationOptions.greedy(4).sampling(0f, 0, 1f, 0))).status());
      // table-declared choices and counts are checked by the library (m4cxr_task_start)
      assertEquals(Status.INVALID_ARGUMENT, assertThrows(M4cxrException.class,
          () -> s.identifyRegion(im, BoxQuestion.FINDING, new double[0][])).status());
      assertTrue(s.vqa(im, "ok?", GenerationOptions.greedy(4)).stats().generatedTokens() > 0);
    }
  }

  @Test
  public void javaSideMisuse() {
    Model model = TestSupport.model();
    Image im = model.image(TestSupport.imagePath("gray8_70x70.png"));
    Session s = model.session();
    assertThrows(IllegalArgumentException.class, () -> s.vqa(im, "nul \0 inside"));
    assertThrows(IllegalArgumentException.class, () -> s.identifyRegion(im, BoxQuestion.ORGAN, new double[] {1, 2, 3}));
    assertThrows(NullPointerException.class, () -> s.identifyRegion(im, null, new double[] {1, 2, 3, 4}));
    assertThrows(NullPointerException.class, () -> s.report(null));
    assertThrows(NullPointerException.class, () -> s.vqa(null, "?"));
    im.close();
    assertThrows(IllegalStateException.class, () -> s.vqa(im, "?"));
    s.close();
    assertThrows(IllegalStateException.class, () -> s.chat("hi"));
    assertThrows(IllegalStateException.class, s::reset);
    try (Model other = Model.load(TestSupport.modelDir());
         Image foreign = other.image(TestSupport.imagePath("gray8_70x70.png"));
         Session s2 = model.session()) {
      assertThrows(IllegalArgumentException.class, () -> s2.vqa(foreign, "?"));
    }
  }
}
