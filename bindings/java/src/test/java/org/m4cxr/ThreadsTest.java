package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.Test;

/** One model, one image, several threads each with its own session. */
public class ThreadsTest {
  private static String reportOnce(Image image) {
    try (Session s = TestSupport.model().session()) {
      Result r = s.report(List.of(image), GenerationOptions.greedy(10));
      return r.turns().get(0) + "\n" + r.text() + "\n" + r.findings();
    }
  }

  @Test
  public void twoThreadsWithTwoSessionsGiveTheSingleThreadResult() throws Exception {
    try (Image image = TestSupport.model().image(TestSupport.imagePath("rgb_150x200.jpg"))) {
      String want = reportOnce(image);
      ExecutorService pool = Executors.newFixedThreadPool(2);
      try {
        List<Future<String>> got = new ArrayList<>();
        for (int i = 0; i < 4; ++i) got.add(pool.submit(() -> reportOnce(image)));
        for (Future<String> f : got) assertEquals(want, f.get());
      } finally {
        pool.shutdown();
      }
    }
  }

  @Test
  public void imagesAndSessionsAreCreatedConcurrently() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<String>> hashes = new ArrayList<>();
      for (int i = 0; i < 8; ++i)
        hashes.add(pool.submit(() -> {
          try (Image im = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
               Session s = TestSupport.model().session()) {
            return im.hash() + s;
          }
        }));
      String first = hashes.get(0).get();
      for (Future<String> f : hashes) assertEquals(first, f.get());
    } finally {
      pool.shutdown();
    }
  }

  @Test
  public void aSessionUsedFromTwoThreadsIsBusy() throws Exception {
    try (Image image = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
         Session s = TestSupport.model().session()) {
      TaskStream t = s.vqaStream(image, "First?", GenerationOptions.greedy(200));
      assertTrue(t.hasNext());
      ExecutorService pool = Executors.newSingleThreadExecutor();
      try {
        Future<Status> other = pool.submit(() -> {
          try {
            s.vqa(image, "Second?");
            return Status.OK;
          } catch (M4cxrException e) {
            return e.status();
          }
        });
        assertEquals(Status.BUSY, other.get());
      } finally {
        pool.shutdown();
      }
      t.close();
    }
  }
}
