package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.m4cxr.jni.LogBridge;

/** libm4cxr's log messages arrive at java.util.logging's logger "m4cxr", on the calling thread. */
public class LoggingTest {
  private final List<LogRecord> records = new ArrayList<>();
  private final Handler handler = new Handler() {
    @Override
    public void publish(LogRecord r) {
      synchronized (records) {
        records.add(r);
      }
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };
  private final Logger logger = Logger.getLogger("m4cxr");

  @Before
  public void listen() {
    TestSupport.model();  // loaded (and its messages made) before the test starts
    logger.addHandler(handler);
    logger.setLevel(Level.ALL);
    handler.setLevel(Level.ALL);
  }

  @After
  public void stop() {
    logger.removeHandler(handler);
    logger.setLevel(null);
  }

  private List<String> messages(Level level) {
    synchronized (records) {
      return records.stream().filter(r -> r.getLevel() == level).map(LogRecord::getMessage).collect(Collectors.toList());
    }
  }

  @Test
  public void loadingTheModelLogsInfo() {
    assertEquals("m4cxr", LogBridge.LOGGER_NAME);
    Model.load(TestSupport.modelDir(), new Model.Options().dtype(DType.FLOAT32).threads(2)).close();
    List<String> info = messages(Level.INFO);
    assertTrue(info.toString(), info.stream().anyMatch(m -> m.startsWith("loading model '" + TestSupport.modelDir() + "'")));
    assertTrue(info.toString(), info.stream().anyMatch(m -> m.startsWith("model loaded in ")));
    synchronized (records) {
      for (LogRecord r : records) {
        assertEquals("m4cxr", r.getLoggerName());
        assertEquals("libm4cxr", r.getSourceClassName());
        assertEquals(Thread.currentThread().getId(), r.getLongThreadID());
      }
    }
  }

  @Test
  public void anErrorIsLoggedWithTheExceptionsText() {
    M4cxrException e = assertThrows(M4cxrException.class, () -> Model.load(Path.of("/nonexistent/model")));
    assertEquals(List.of(e.nativeMessage()), messages(Level.SEVERE));
  }

  @Test
  public void theLoggersLevelFilters() {
    logger.setLevel(Level.WARNING);
    Model.load(TestSupport.modelDir(), new Model.Options().dtype(DType.FLOAT32).threads(2)).close();
    assertThrows(M4cxrException.class, () -> Model.load(Path.of("/nonexistent/model")));
    synchronized (records) {
      assertEquals(1, records.size());
      assertEquals(Level.SEVERE, records.get(0).getLevel());
    }
    logger.setLevel(Level.OFF);
    assertThrows(M4cxrException.class, () -> Model.load(Path.of("/nonexistent/model")));
    assertEquals(1, records.size());
  }

  @Test
  public void aTaskOnAnotherThreadLogsFineThere() throws Exception {
    long[] id = new long[1];
    Throwable[] failure = new Throwable[1];
    Thread t = new Thread(() -> {
      id[0] = Thread.currentThread().getId();
      try (Image im = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
           Session s = TestSupport.model().session()) {
        s.vqa(im, "Is there edema?", GenerationOptions.greedy(2));
      } catch (Throwable e) {
        failure[0] = e;
      }
    });
    t.start();
    t.join();
    if (failure[0] != null) throw new AssertionError(failure[0]);
    List<String> fine = messages(Level.FINE);
    assertTrue(fine.toString(), fine.stream().anyMatch(m -> m.startsWith("task vqa started: 1 new image(s), 1 turn(s)")));
    assertTrue(fine.toString(), fine.stream().anyMatch(m -> m.startsWith("task vqa finished after 1 turn(s)")));
    assertFalse(fine.stream().anyMatch(m -> m.contains("edema")));  // no prompt text
    synchronized (records) {
      for (LogRecord r : records) assertEquals(id[0], r.getLongThreadID());
    }
  }

  @Test
  public void aThrowingHandlerDoesNotBreakTheCall() {
    Handler boom = new Handler() {
      @Override
      public void publish(LogRecord r) {
        throw new IllegalStateException("handler failed");
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    logger.addHandler(boom);
    try (Image im = TestSupport.model().image(TestSupport.imagePath("gray8_70x70.png"));
         Session s = TestSupport.model().session()) {
      assertEquals(1, s.vqa(im, "Is there edema?", GenerationOptions.greedy(1)).turns().size());
      M4cxrException e = assertThrows(M4cxrException.class, () -> Model.load(Path.of("/nonexistent/model")));
      assertEquals(Status.IO, e.status());  // the call's own error, not the handler's
    } finally {
      logger.removeHandler(boom);
    }
  }
}
