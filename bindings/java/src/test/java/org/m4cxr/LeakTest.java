package org.m4cxr;

import static org.junit.Assert.assertTrue;

import static org.junit.Assert.assertEquals;

import java.nio.file.Files;
import java.util.List;
import org.junit.Test;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_session;
import org.m4cxr.jni.m4cxr_status;

/**
 * 200 create/close cycles of images, sessions, tasks (finished and abandoned streams) and
 * results must not grow native memory, also when nothing is closed and the garbage
 * collector's cleaner calls the C frees (on its own thread, in any order). CMake runs this
 * with a fixed, pre-touched heap (-Xms64m -Xmx64m -XX:+AlwaysPreTouch) so that RSS growth is
 * native memory.
 */
public class LeakTest {
  private static final int CYCLES = 200;
  private static final long BOUND = 8L << 20;  // RSS growth allowed over all cycles (one leaked image per cycle: ~16 MiB)

  private static void cycle(Model model, byte[] png) {
    try (Image im = model.image(png);
         Session s = model.session()) {
      Result r = s.vqa(im, "Is there pleural effusion?", GenerationOptions.greedy(2));
      assertTrue(r.json().length() > 0);
      TaskStream t = s.chatStream("Describe.", List.of(), GenerationOptions.greedy(2));  // abandoned after one piece
      t.hasNext();
      t.close();
    }
  }

  @Test
  public void noNativeGrowthOverManyCycles() throws Exception {
    Model model = TestSupport.model();
    byte[] png = Files.readAllBytes(TestSupport.imagePath("rgb_640x512.png"));
    for (int i = 0; i < 30; ++i) cycle(model, png);  // warm-up: allocator pools, JIT
    System.gc();
    long before = TestSupport.rssBytes();
    for (int i = 0; i < CYCLES; ++i) cycle(model, png);
    System.gc();
    long after = TestSupport.rssBytes();
    long growth = after - before;
    System.out.printf("RSS %d KiB -> %d KiB over %d cycles (%+d KiB)%n", before >> 10, after >> 10, CYCLES, growth >> 10);
    assertTrue("RSS grew by " + (growth >> 10) + " KiB", growth < BOUND);
  }

  /** The same objects, none closed: the cleaner frees them (session and stream before or after the image). */
  private static void abandonedCycle(Model model, byte[] png) {
    Image im = model.image(png);
    Session s = model.session();
    Result r = s.vqa(im, "Is there pleural effusion?", GenerationOptions.greedy(2));
    assertTrue(r.json().length() > 0);
    TaskStream t = s.chatStream("Describe.", List.of(), GenerationOptions.greedy(2));
    t.hasNext();
  }

  private static void collect() throws InterruptedException {
    for (int i = 0; i < 3; ++i) {
      System.gc();
      Thread.sleep(50);  // the cleaner thread runs the frees
    }
  }

  @Test
  public void noNativeGrowthWhenTheGarbageCollectorFrees() throws Exception {
    Model model = TestSupport.model();
    byte[] png = Files.readAllBytes(TestSupport.imagePath("rgb_640x512.png"));
    for (int i = 0; i < 30; ++i) {
      abandonedCycle(model, png);
      if (i % 10 == 9) collect();
    }
    collect();
    long before = TestSupport.rssBytes();
    for (int i = 0; i < CYCLES; ++i) {
      abandonedCycle(model, png);
      if (i % 10 == 9) collect();
    }
    collect();
    long after = TestSupport.rssBytes();
    long growth = after - before;
    System.out.printf("cleaner: RSS %d KiB -> %d KiB over %d cycles (%+d KiB)%n", before >> 10, after >> 10, CYCLES,
                      growth >> 10);
    assertTrue("RSS grew by " + (growth >> 10) + " KiB", growth < BOUND);
  }

  @Test
  public void unreachableObjectsAreFreedByTheCleaner() throws Exception {
    Model model = TestSupport.model();
    Session s = model.session();
    Image im = model.image(TestSupport.imagePath("gray8_70x70.png"));
    SWIGTYPE_p_m4cxr_session sh = s.handle();
    SWIGTYPE_p_m4cxr_image ih = im.handle();
    assertEquals(m4cxr_status.M4CXR_OK, M4cxr.m4cxr_session_reset(sh));
    s = null;
    im = null;
    int[] w = new int[1];
    int[] h = new int[1];
    long deadline = System.nanoTime() + 30_000_000_000L;
    while ((M4cxr.m4cxr_session_reset(sh) == m4cxr_status.M4CXR_OK
            || M4cxr.m4cxr_image_get_size(ih, w, h) == m4cxr_status.M4CXR_OK)
           && System.nanoTime() < deadline)
      collect();
    // freed by the cleaner: the library refuses the stale handles
    assertEquals(m4cxr_status.M4CXR_ERR_INVALID_HANDLE, M4cxr.m4cxr_session_reset(sh));
    assertEquals(m4cxr_status.M4CXR_ERR_INVALID_HANDLE, M4cxr.m4cxr_image_get_size(ih, w, h));
  }
}
