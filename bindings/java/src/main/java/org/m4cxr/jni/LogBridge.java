package org.m4cxr.jni;

import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Forwards libm4cxr's log messages ({@code m4cxr_set_log_callback}) to the
 * {@code java.util.logging} logger {@value #LOGGER_NAME}: model loading at {@link Level#INFO},
 * task start and end at {@link Level#FINE}, adjusted inputs (a clipped box) at
 * {@link Level#WARNING}, every failure the C library reports at {@link Level#SEVERE}
 * ({@link Level#WARNING} for busy and cancelled) with the text of the exception that
 * follows. Records name the source class {@code libm4cxr}; SLF4J/Logback users route them
 * with the usual {@code jul-to-slf4j} bridge.
 *
 * <p>Installed when the binding's native library is loaded, for every level (the logger's
 * level decides, and may change at any time), and removed by a shutdown hook, so no native
 * call logs into a JVM that is going away. The records are made on the thread inside the
 * C call, which is the Java thread that made it (libm4cxr starts no threads; a thread the
 * JVM does not know would be attached for the call).
 */
public final class LogBridge {
  /** The name of the logger that receives libm4cxr's messages. */
  public static final String LOGGER_NAME = "m4cxr";

  // Held here: java.util.logging keeps loggers weakly, and a level set on this one must stay.
  private static final Logger LOGGER = Logger.getLogger(LOGGER_NAME);
  // m4cxr_log_level (DEBUG, INFO, WARN, ERROR) -> java.util.logging
  private static final Level[] LEVELS = {Level.FINE, Level.INFO, Level.WARNING, Level.SEVERE};
  private static boolean started;

  private LogBridge() {}

  /** Installs the callback once (called when the native library is loaded). */
  static synchronized void start() {
    if (started) return;
    started = true;
    if (install(0) != 0) {
      LOGGER.warning("m4cxr_set_log_callback failed: libm4cxr's messages are not forwarded");
      return;
    }
    try {
      Runtime.getRuntime().addShutdownHook(new Thread(LogBridge::uninstall, "m4cxr-log-off"));
    } catch (IllegalStateException e) {  // the JVM is already shutting down
      uninstall();
    }
  }

  /** Called by libm4cxr_jni for each message, on the thread that logs it. */
  private static void log(int level, byte[] message) {
    Level l = LEVELS[Math.max(0, Math.min(LEVELS.length - 1, level))];
    if (!LOGGER.isLoggable(l)) return;
    LOGGER.logp(l, "libm4cxr", null, new String(message, StandardCharsets.UTF_8));
  }

  /** m4cxr_set_log_callback with the bridge's callback; returns the m4cxr_status. */
  private static native int install(int minLevel);

  /** Turns logging off; no call of the callback runs or starts once this returns. */
  private static native int uninstall();
}
