package org.m4cxr.jni;

import java.nio.file.Paths;

/**
 * Loads {@code libm4cxr_jni.so}, the JNI part of the binding (it links {@code libm4cxr.so},
 * which the dynamic linker finds next to it or through the usual search path).
 *
 * <p>If the system property {@value #PROPERTY} is set (for example
 * {@code -Dm4cxr.library=/opt/m4cxr/lib/libm4cxr_jni.so}) that file is loaded; otherwise
 * {@code System.loadLibrary("m4cxr_jni")} searches {@code java.library.path}. Called
 * automatically the first time any class of the binding touches native code.
 */
public final class NativeLibrary {
  /** System property naming the JNI library file to load instead of searching java.library.path. */
  public static final String PROPERTY = "m4cxr.library";

  private static boolean loaded;

  private NativeLibrary() {}

  /** Loads the JNI library once; later calls do nothing. */
  public static synchronized void load() {
    if (loaded) return;
    String path = System.getProperty(PROPERTY);
    if (path != null && !path.isEmpty()) System.load(Paths.get(path).toAbsolutePath().toString());
    else System.loadLibrary("m4cxr_jni");
    loaded = true;
  }
}
