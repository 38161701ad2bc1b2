package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** Pull streaming: pieces equal the final texts; cancel and close stop generation, from any thread. */
public class StreamingTest {
  private static Image image;

  @BeforeClass
  public static void load() {
    image = TestSupport.model().image(TestSupport.imagePath("gray8_73x101.png"));
  }

  @AfterClass
  public static void close() {
    image.close();
  }

  /** Long generations for the cancel tests: random weights rarely emit EOS, sampling with a seed as tests/capi. */
  private static GenerationOptions longRun() {
    return GenerationOptions.greedy(400).sampling(1.0f, 50, 1.0f, 7);
  }

  @Test
  public void reportPiecesConcatenateToTheTurnTexts() {
    try (Session s = TestSupport.model().session();
         TaskStream stream = s.reportStream(List.of(image), GenerationOptions.greedy(12))) {
      assertEquals(-1, stream.turn());
      List<StringBuilder> turns = new ArrayList<>();
      int last = 0;
      while (stream.hasNext()) {
        String piece = stream.next();
        assertTrue(stream.turn() >= last);
        last = stream.turn();
        while (turns.size() <= stream.turn()) turns.add(new StringBuilder());
        turns.get(stream.turn()).append(piece);
      }
      assertFalse(stream.hasNext());
      assertThrows(NoSuchElementException.class, stream::next);
      Result r = stream.result();
      assertEquals(2, turns.size());
      assertEquals(r.turns().get(0), turns.get(0).toString());
      assertEquals(r.turns().get(1), turns.get(1).toString());
      assertEquals(r.text(), turns.get(1).toString());
      assertEquals(r, stream.result());  // cached
      // the session is free again once the stream has finished, even before close()
      assertEquals(2, s.report(List.of(image), GenerationOptions.greedy(12)).turns().size());
    }
  }

  @Test
  public void aStreamIsIterableInAForEachLoop() {
    try (Session s = TestSupport.model().session();
         TaskStream t = s.vqaStream(image, "Is the heart enlarged?", GenerationOptions.greedy(10))) {
      StringBuilder text = new StringBuilder();
      for (String piece : t) text.append(piece);
      assertEquals(t.result().text(), text.toString());
    }
  }

  @Test
  public void streamApiJoinsToTheResultText() {
    try (Session s = TestSupport.model().session();
         TaskStream t = s.vqaStream(image, "Is the heart enlarged?", GenerationOptions.greedy(10))) {
      String joined = t.stream().collect(Collectors.joining());
      assertEquals(t.result().text(), joined);
    }
  }

  @Test
  public void blockingAndStreamingGiveTheSameText() {
    String blocking;
    String streamed;
    try (Session s = TestSupport.model().session()) {
      blocking = s.chat("Describe.", List.of(image), GenerationOptions.greedy(10)).text();
    }
    try (Session s = TestSupport.model().session();
         TaskStream t = s.chatStream("Describe.", List.of(image), GenerationOptions.greedy(10))) {
      StringBuilder b = new StringBuilder();
      t.forEachRemaining(b::append);
      streamed = b.toString();
    }
    assertEquals(blocking, streamed);
  }

  @Test
  public void cancelMidStreamKeepsWhatWasProduced() {
    try (Session s = TestSupport.model().session();
         TaskStream t = s.chatStream("Describe.", List.of(image), longRun())) {
      StringBuilder b = new StringBuilder();
      int pieces = 0;
      while (t.hasNext()) {
        b.append(t.next());
        if (++pieces == 3) t.cancel();
      }
      Result r = t.result();
      if (!r.stats().stoppedByEos()) {
        assertTrue(r.stats().cancelled());
        assertTrue(r.stats().generatedTokens() < 400);
        assertTrue(r.stats().generatedTokens() <= pieces + 4);
      }
      assertEquals(r.text(), b.toString());
      // the session continues normally afterwards
      assertTrue(s.chat("Thanks.", GenerationOptions.greedy(3)).stats().generatedTokens() > 0);
    }
  }

  @Test
  public void sessionCancelFromAnotherThreadStopsABlockingCall() throws Exception {
    try (Session s = TestSupport.model().session()) {
      AtomicReference<Result> result = new AtomicReference<>();
      AtomicReference<Throwable> error = new AtomicReference<>();
      CountDownLatch started = new CountDownLatch(1);
      Thread worker = new Thread(() -> {
        try (TaskStream t = s.chatStream("Describe.", List.of(image), longRun())) {
          int n = 0;
          while (t.hasNext()) {
            t.next();
            if (++n == 2) started.countDown();
          }
          result.set(t.result());
        } catch (Throwable e) {
          error.set(e);
        }
      });
      worker.start();
      assertTrue(started.await(120, TimeUnit.SECONDS));
      s.cancel();
      worker.join(120_000);
      assertFalse(worker.isAlive());
      if (error.get() != null) throw new AssertionError(error.get());
      Stats st = result.get().stats();
      if (!st.stoppedByEos()) {
        assertTrue(st.cancelled());
        assertTrue(st.generatedTokens() < 400);
      }
    }
  }

  @Test
  public void closeStopsTheTaskAndFreesTheSession() {
    try (Session s = TestSupport.model().session()) {
      TaskStream t = s.chatStream("Describe.", List.of(image), longRun());
      assertTrue(t.hasNext());
      t.next();
      // an unfinished task keeps the session busy
      M4cxrException busy = assertThrows(M4cxrException.class, () -> s.vqa(image, "Again?"));
      assertEquals(Status.BUSY, busy.status());
      assertThrows(M4cxrException.class, s::reset);
      t.close();
      assertFalse(t.hasNext());
      assertThrows(IllegalStateException.class, t::result);
      t.close();  // idempotent
      assertTrue(s.vqa(image, "Again?", GenerationOptions.greedy(3)).stats().generatedTokens() > 0);
    }
  }

  @Test
  public void closeFromAnotherThreadEndsTheIteration() throws Exception {
    try (Session s = TestSupport.model().session()) {
      TaskStream t = s.chatStream("Describe.", List.of(image), longRun());
      AtomicInteger pieces = new AtomicInteger();
      AtomicReference<Throwable> error = new AtomicReference<>();
      CountDownLatch started = new CountDownLatch(1);
      Thread worker = new Thread(() -> {
        try {
          while (t.hasNext()) {
            t.next();
            if (pieces.incrementAndGet() == 2) started.countDown();
          }
        } catch (Throwable e) {
          error.set(e);
        }
      });
      worker.start();
      assertTrue(started.await(120, TimeUnit.SECONDS));
      t.close();
      worker.join(120_000);
      assertFalse(worker.isAlive());
      if (error.get() != null) throw new AssertionError(error.get());
      assertTrue(pieces.get() < 400);
    }
  }

  @Test
  public void closingTheSessionFromAnotherThreadStopsABlockingCall() throws Exception {
    Session s = TestSupport.model().session();
    AtomicReference<Object> outcome = new AtomicReference<>();
    CountDownLatch started = new CountDownLatch(1);
    Thread worker = new Thread(() -> {
      try (TaskStream t = s.chatStream("Describe.", List.of(image), longRun())) {
        t.next();
        started.countDown();
        outcome.set(t.result());  // blocks in the library until the close stops it
      } catch (Throwable e) {
        outcome.set(e);
      }
    });
    worker.start();
    assertTrue(started.await(120, TimeUnit.SECONDS));
    s.close();  // no lock of the binding: the library stops the task and frees the session after it
    worker.join(120_000);
    assertFalse(worker.isAlive());
    Object o = outcome.get();
    if (o instanceof Result) assertTrue(((Result) o).stats().stoppedByEos() || ((Result) o).stats().cancelled());
    else assertTrue(String.valueOf(o), o instanceof IllegalStateException);
    assertThrows(IllegalStateException.class, () -> s.vqa(image, "?"));
    s.close();  // idempotent
  }

  @Test
  public void closingTheSessionStopsItsStream() {
    Session s = TestSupport.model().session();
    TaskStream t = s.chatStream("Describe.", List.of(image), longRun());
    assertTrue(t.hasNext());
    s.close();
    t.next();  // announced by hasNext() before the close: still handed out
    assertFalse(t.hasNext());
    assertThrows(IllegalStateException.class, () -> s.vqa(image, "?"));
  }
}
