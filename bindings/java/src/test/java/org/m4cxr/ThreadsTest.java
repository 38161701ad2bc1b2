package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
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

  /**
   * Closing races with use (what HandleGuard used to serialise, now the C library's checked
   * handles and deferred frees): a session and an image closed from another thread at a
   * random moment of a task on them. The task either completes, is stopped, or is refused
   * with a plain exception; nothing crashes, and the model goes on working.
   */
  @Test
  public void closingRacesWithUse() throws Exception {
    Model model = TestSupport.model();
    ExecutorService pool = Executors.newSingleThreadExecutor();
    java.util.Map<String, Integer> outcomes = new java.util.TreeMap<>();
    try {
      for (int i = 0; i < 40; ++i) {
        Image image = model.image(TestSupport.imagePath("gray8_70x70.png"));
        Session s = model.session();
        Future<String> use = pool.submit(() -> {
          try {
            Result r = s.vqa(image, "Anything?", GenerationOptions.greedy(6));
            return "done " + r.stats().generatedTokens();
          } catch (IllegalStateException e) {
            return "closed";
          } catch (M4cxrException e) {
            assertTrue(e.getMessage(), e.status() == Status.INVALID_HANDLE || e.status() == Status.INVALID_ARGUMENT);
            return "refused";
          }
        });
        Thread.sleep(ThreadLocalRandom.current().nextInt(0, 30));
        if (i % 2 == 0) {
          image.close();
          s.close();
        } else {
          s.close();
          image.close();
        }
        outcomes.merge(use.get().split(" ")[0], 1, Integer::sum);
      }
    } finally {
      pool.shutdown();
    }
    System.out.println("close races: " + outcomes);
    try (Image image = model.image(TestSupport.imagePath("gray8_70x70.png"));
         Session s = model.session()) {
      assertTrue(s.vqa(image, "Anything?", GenerationOptions.greedy(3)).stats().generatedTokens() > 0);
    }
  }
}
