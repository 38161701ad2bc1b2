package org.m4cxr;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.Test;

/** Loading, model info, images from files / bytes / raw pixels, box geometry, close cascade. */
public class ModelTest {
  @Test
  public void loadAndInfo() throws Exception {
    ModelInfo info = TestSupport.model().info();
    Object m = TestSupport.manifest();
    assertEquals(((Long) TestSupport.at(m, "dims", "num_visual_tokens_per_image")).intValue(), info.visualTokensPerImage());
    assertEquals(((Long) TestSupport.at(m, "dims", "lm", "hidden_size")).intValue(), info.textHidden());
    assertEquals(DType.FLOAT32, info.dtype());
    assertEquals("cpu", info.device());
    assertTrue(info.weightBytes() > 0);
    assertTrue(info.vocabSize() > 0 && info.textLayers() > 0 && info.visionLayers() > 0 && info.imageSize() > 0);
    assertTrue(Model.version().matches("\\d+\\.\\d+\\.\\d+"));
    assertEquals(TestSupport.modelDir(), TestSupport.model().directory());
  }

  @Test
  public void int8WeightsLoadAndRun() {
    try (Model int8 = Model.load(TestSupport.modelDir(), new Model.Options().dtype(DType.INT8).threads(1));
         Model bf16 = Model.load(TestSupport.modelDir(), new Model.Options().threads(1))) {
      assertEquals(DType.INT8, int8.info().dtype());
      assertTrue(int8.info().weightBytes() < bf16.info().weightBytes());
      try (Session s = int8.session();
           Image im = int8.image(TestSupport.imagePath("gray8_70x70.png"))) {
        Result r = s.vqa(im, "Is there edema?", GenerationOptions.greedy(3));
        assertTrue(r.stats().generatedTokens() > 0);
        assertTrue(r.json().contains("\"runtime_dtype\": \"int8\""));
      }
    }
  }

  @Test
  public void imagesFromFileAndBytesAgree() throws Exception {
    Model model = TestSupport.model();
    try (Image a = model.image(TestSupport.imagePath("rgb_150x200.jpg"));
         Image b = model.image(Files.readAllBytes(TestSupport.imagePath("rgb_150x200.jpg")));
         Image c = model.image(TestSupport.imagePath("gray16_200x150.png"))) {
      assertEquals(150, a.width());
      assertEquals(200, a.height());
      assertEquals(64, a.hash().length());
      assertEquals(a.hash(), b.hash());
      assertEquals(200, c.width());
      assertEquals(150, c.height());
      assertNotEquals(a.hash(), c.hash());
    }
  }

  @Test
  public void imagesFromRawPixels() {
    Model model = TestSupport.model();
    byte[] gray = new byte[6 * 4];
    short[] gray16 = new short[6 * 4];
    byte[] rgb = new byte[6 * 4 * 3];
    short[] rgb16 = new short[6 * 4 * 3];
    for (int i = 0; i < gray.length; ++i) {
      gray[i] = (byte) (i * 10);
      gray16[i] = (short) (i * 10 * 257);  // 16-bit maps to 8 bits as round(v/257)
      for (int k = 0; k < 3; ++k) {
        rgb[3 * i + k] = gray[i];
        rgb16[3 * i + k] = gray16[i];
      }
    }
    try (Image g8 = model.imageFromPixels(gray, 6, 4, PixelFormat.GRAY8);
         Image g16 = model.imageFromPixels(gray16, 6, 4, PixelFormat.GRAY16);
         Image c8 = model.imageFromPixels(rgb, 6, 4, PixelFormat.RGB8);
         Image c16 = model.imageFromPixels(rgb16, 6, 4, PixelFormat.RGB16)) {
      assertEquals(6, g8.width());
      assertEquals(4, g8.height());
      // the hash covers the decoded RGB pixels: all four describe the same picture
      assertEquals(g8.hash(), g16.hash());
      assertEquals(g8.hash(), c8.hash());
      assertEquals(g8.hash(), c16.hash());
    }
    assertThrows(IllegalArgumentException.class, () -> model.imageFromPixels(gray, 6, 4, PixelFormat.GRAY16));
    assertThrows(IllegalArgumentException.class, () -> model.imageFromPixels(gray16, 6, 4, PixelFormat.RGB8));
    M4cxrException e = assertThrows(M4cxrException.class, () -> model.imageFromPixels(gray, 7, 4, PixelFormat.GRAY8));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.nativeMessage().length() > 0);
  }

  @Test
  public void boxGeometry() {
    try (Image im = TestSupport.model().image(TestSupport.imagePath("rgb_150x200.jpg"))) {
      // 150x200 portrait: side 150, crop offset 25 on y (see tests/capi)
      int[] m = im.pixelsToModel(new double[] {30, 40, 120, 160});
      assertArrayEquals(new int[] {20, 10, 80, 90}, m);
      double[] back = im.modelToPixels(m);
      assertArrayEquals(new double[] {30, 40, 120, 160}, back, 1.0);
      assertThrows(IllegalArgumentException.class, () -> im.pixelsToModel(new double[] {1, 2, 3}));
      assertThrows(IllegalArgumentException.class, () -> im.modelToPixels(new int[5]));
    }
  }

  @Test
  public void traceWritesEveryStage() throws Exception {
    Path dir = Files.createTempDirectory("m4cxr-trace");
    try (Image im = TestSupport.model().image(TestSupport.imagePath("rgb_150x200.jpg"))) {
      TestSupport.model().trace(List.of(im), "radiology image: <image> Provide a description of the findings in the "
                                + "radiology image.", dir);
      for (String f : List.of("pixel_values", "visual_tokens", "prompt_ids", "inputs_embeds", "logits"))
        assertTrue(f, Files.size(dir.resolve(f + ".npy")) > 0);
      M4cxrException e = assertThrows(M4cxrException.class, () -> TestSupport.model().trace(List.of(), "<image> x", dir));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      e = assertThrows(M4cxrException.class, () -> TestSupport.model().trace(List.of(im), "<image> x", dir.resolve("no")));
      assertEquals(Status.IO, e.status());
    } finally {
      try (java.util.stream.Stream<Path> files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) Files.delete(f);
      }
      Files.delete(dir);
    }
  }

  @Test
  public void objectsCloseInAnyOrder() {
    // The model first, while a stream of one of its sessions runs: sessions keep the weights
    // and images their pixels, so everything made from the model goes on working.
    Model model = Model.load(TestSupport.modelDir(), new Model.Options().dtype(DType.FLOAT32));
    Session session = model.session();
    Image image = model.image(TestSupport.imagePath("gray8_70x70.png"));
    TaskStream stream = session.vqaStream(image, "Anything?", GenerationOptions.greedy(5));
    assertTrue(stream.hasNext());
    model.close();
    model.close();  // idempotent
    assertTrue(model.toString().contains("closed"));
    assertThrows(IllegalStateException.class, model::session);
    assertThrows(IllegalStateException.class, model::info);
    assertThrows(IllegalStateException.class, () -> model.image(TestSupport.imagePath("gray8_70x70.png")));
    Result r = stream.result();
    assertTrue(r.stats().generatedTokens() > 0);
    stream.close();
    assertArrayEquals(new int[] {0, 0, 100, 100}, image.pixelsToModel(new double[] {0, 0, 70, 70}));
    // the image next, then a task that started with it still runs
    TaskStream late = session.vqaStream(image, "Anything?", GenerationOptions.greedy(5));
    image.close();
    assertThrows(IllegalStateException.class, () -> image.pixelsToModel(new double[] {0, 0, 1, 1}));
    assertThrows(IllegalStateException.class, () -> session.vqa(image, "Anything?"));
    assertEquals(r.text(), late.result().text());
    // the session before its stream: the stream then ends without a result
    TaskStream open = session.chatStream("More?", GenerationOptions.greedy(400));
    assertTrue(open.hasNext());
    session.close();
    open.next();  // announced by hasNext() before the close: still handed out
    assertEquals(false, open.hasNext());
    assertThrows(IllegalStateException.class, open::result);
    assertThrows(IllegalStateException.class, () -> session.chat("Anything?"));
    session.cancel();  // no-op once closed
    session.close();
    image.close();
    open.close();
    late.close();
    assertEquals(70, image.width());  // plain Java values stay readable
  }

  @Test
  public void optionsAreValidatedByTheLibrary() {
    M4cxrException e = assertThrows(M4cxrException.class,
                                    () -> Model.load(TestSupport.modelDir(), new Model.Options().threads(-1)));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    e = assertThrows(M4cxrException.class, () -> Model.load(TestSupport.modelDir(), new Model.Options().device("tpu")));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.nativeMessage(), e.nativeMessage().contains("tpu"));
    List<Status> all = List.of(Status.values());
    for (Status s : all) assertEquals(s, Status.of(s.code()));
    assertEquals("i/o error", Status.IO.description());
  }
}
