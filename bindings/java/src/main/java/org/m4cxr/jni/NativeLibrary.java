package org.m4cxr.jni;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads {@code libm4cxr_jni.so}, the JNI part of the binding (it links {@code libm4cxr.so},
 * which the dynamic linker finds next to it by its run path).
 *
 * <p>Where it looks, in order: the file named by the system property {@value #PROPERTY}
 * (for example {@code -Dm4cxr.library=/opt/m4cxr/lib/libm4cxr_jni.so}) if set; else
 * {@code java.library.path}; else the install layout next to the jar ({@code
 * PREFIX/share/java/m4cxr.jar} finds {@code PREFIX/lib/libm4cxr_jni.so}) and the jar's own
 * folder. If all fail, the error lists every place it tried. Called automatically the
 * first time any class of the binding touches native code.
 */
public final class NativeLibrary {
  /** System property naming the JNI library file to load instead of searching. */
  public static final String PROPERTY = "m4cxr.library";
  private static final String FILE = "libm4cxr_jni.so";

  private static boolean loaded;

  private NativeLibrary() {}

  /** Loads the JNI library once; later calls do nothing. */
  public static synchronized void load() {
    if (loaded) return;
    String path = System.getProperty(PROPERTY);
    if (path != null && !path.isEmpty()) {
      System.load(Paths.get(path).toAbsolutePath().toString());
      loaded = true;
      return;
    }
    List<String> tried = new ArrayList<>();
    try {
      System.loadLibrary("m4cxr_jni");
      loaded = true;
      return;
    } catch (UnsatisfiedLinkError e) {
      tried.add("java.library.path (" + System.getProperty("java.library.path") + "): " + e.getMessage());
    }
    for (Path candidate : nearTheJar()) {
      if (Files.isRegularFile(candidate)) {
        System.load(candidate.toString());
        loaded = true;
        return;
      }
      tried.add(candidate.toString());
    }
    throw new UnsatisfiedLinkError("cannot find " + FILE + "; tried " + String.join("; ", tried)
                                   + ". Set -D" + PROPERTY + "=/path/to/" + FILE + ".");
  }

  private static List<Path> nearTheJar() {
    List<Path> out = new ArrayList<>();
    try {
      Path jar = Paths.get(NativeLibrary.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      Path dir = Files.isDirectory(jar) ? jar : jar.getParent();
      if (dir != null) {
        out.add(dir.resolve(InstallLayout.JAR_TO_LIBDIR).resolve(FILE).normalize());
        out.add(dir.resolve(FILE));
      }
    } catch (URISyntaxException | SecurityException | NullPointerException e) {
      // no code source (an unusual class loader): only java.library.path was possible
    }
    return out;
  }
}
