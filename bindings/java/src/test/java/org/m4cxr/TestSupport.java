package org.m4cxr;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Shared fixtures: the golden data folder, its manifest, one fp32 model per JVM, a tiny JSON reader. */
final class TestSupport {
  static final String SYS = "The following is a conversation between a curious human and an AI medical assistant. "
      + "The assistant gives helpful, detailed, and polite answers to the user's questions. ";
  static final String F13 = "enlarged cardiomediastinum, cardiomegaly, lung opacity, lung lesion, edema, consolidation, "
      + "pneumonia, atelectasis, pneumothorax, pleural effusion, pleural other, fracture, support devices";

  private static Model model;
  private static Object manifest;

  private TestSupport() {}

  /** $M4CXR_GOLDEN_DIR, else the -Dm4cxr.golden given by CMake. */
  static Path golden() {
    String env = System.getenv("M4CXR_GOLDEN_DIR");
    if (env != null && !env.isEmpty()) return Path.of(env);
    String prop = System.getProperty("m4cxr.golden");
    if (prop == null) throw new IllegalStateException("set M4CXR_GOLDEN_DIR or -Dm4cxr.golden");
    return Path.of(prop);
  }

  static Path modelDir() {
    return golden().resolve("models/merged_fp32");
  }

  static Path imagePath(String name) {
    return golden().resolve("images").resolve(name);
  }

  /** One float32 model for the whole JVM (greedy outputs then equal the goldens); closed at exit. */
  static synchronized Model model() {
    if (model == null) {
      model = Model.load(modelDir(), new Model.Options().dtype(DType.FLOAT32).threads(2));
      Runtime.getRuntime().addShutdownHook(new Thread(model::close));
    }
    return model;
  }

  static synchronized Object manifest() throws IOException {
    if (manifest == null) manifest = Json.parse(Files.readString(golden().resolve("manifest.json"), StandardCharsets.UTF_8));
    return manifest;
  }

  /** Walks a parsed JSON value by object keys and array indices. */
  static Object at(Object json, Object... path) {
    Object v = json;
    for (Object p : path) {
      if (p instanceof Integer) v = ((List<?>) v).get((Integer) p);
      else v = ((Map<?, ?>) v).get(p);
    }
    return v;
  }

  /** Resident set size of this process in bytes (VmRSS of /proc/self/status). */
  static long rssBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status")))
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    throw new IllegalStateException("no VmRSS");
  }

  /** Minimal JSON reader: objects -> LinkedHashMap, arrays -> ArrayList, numbers -> Long/Double. */
  static final class Json {
    private final String s;
    private int i;

    private Json(String s) {
      this.s = s;
    }

    static Object parse(String text) {
      Json j = new Json(text);
      Object v = j.value();
      j.ws();
      if (j.i != j.s.length()) throw new IllegalArgumentException("trailing JSON at " + j.i);
      return v;
    }

    private void ws() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) ++i;
    }

    private Object value() {
      ws();
      char c = s.charAt(i);
      if (c == '{') {
        Map<String, Object> m = new LinkedHashMap<>();
        ++i;
        ws();
        if (s.charAt(i) == '}') {
          ++i;
          return m;
        }
        while (true) {
          ws();
          String k = string();
          ws();
          expect(':');
          m.put(k, value());
          ws();
          if (s.charAt(i++) == '}') return m;
        }
      }
      if (c == '[') {
        List<Object> l = new ArrayList<>();
        ++i;
        ws();
        if (s.charAt(i) == ']') {
          ++i;
          return l;
        }
        while (true) {
          l.add(value());
          ws();
          if (s.charAt(i++) == ']') return l;
        }
      }
      if (c == '"') return string();
      if (s.startsWith("true", i)) {
        i += 4;
        return Boolean.TRUE;
      }
      if (s.startsWith("false", i)) {
        i += 5;
        return Boolean.FALSE;
      }
      if (s.startsWith("null", i)) {
        i += 4;
        return null;
      }
      int b = i;
      while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) ++i;
      String n = s.substring(b, i);
      if (n.matches("-?[0-9]+")) return Long.parseLong(n);
      return Double.parseDouble(n);
    }

    private void expect(char c) {
      if (s.charAt(i++) != c) throw new IllegalArgumentException("expected " + c + " at " + (i - 1));
    }

    private String string() {
      expect('"');
      StringBuilder b = new StringBuilder();
      while (true) {
        char c = s.charAt(i++);
        if (c == '"') return b.toString();
        if (c != '\\') {
          b.append(c);
          continue;
        }
        char e = s.charAt(i++);
        switch (e) {
          case 'n': b.append('\n'); break;
          case 't': b.append('\t'); break;
          case 'r': b.append('\r'); break;
          case 'b': b.append('\b'); break;
          case 'f': b.append('\f'); break;
          case 'u':
            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
            i += 4;
            break;
          default: b.append(e);
        }
      }
    }
  }
}
