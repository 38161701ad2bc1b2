package org.m4cxr;

import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.util.List;
import org.junit.Test;

/**
 * 200 create/close cycles of images, sessions, tasks (finished and abandoned streams) and
 * results must not grow native memory. CMake runs this with a fixed, pre-touched heap
 * (-Xms64m -Xmx64m -XX:+AlwaysPreTouch) so that RSS growth is native memory.
 */
public class LeakTest {
  private static final int CYCLES = 200;
  private static final long BOUND = 8L << 20;  // RSS growth allowed over all cycles (one leaked image per cycle: ~16 MiB)

  private static void cycle(Model model, byte[] png) {
    try (Image im = model.image(png);
         Session s = model.session().options(GenerationOptions.greedy(2))) {
      Result r = s.vqa(im, "Is there pleural effusion?");
      assertTrue(r.json().length() > 0);
      TaskStream t = s.chatStream("Describe.", List.of());  // abandoned after one piece
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
}
