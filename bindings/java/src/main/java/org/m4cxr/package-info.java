/**
 * Java binding of m4cxr, the engine of the M4CXR chest X-ray multimodal LLM.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("M4CXR-TNNLS"));
 *      Image image = model.image(Path.of("chest.png"));
 *      Session session = model.session()) {
 *   Result r = session.report(List.of(image));
 *   System.out.println(r.findings() + "\n" + r.text());
 * }
 * }</pre>
 *
 * <p><b>Layers.</b> {@code org.m4cxr.jni} is the SWIG-generated one-to-one wrapper of the C
 * API ({@code m4cxr.h}); this package is the idiomatic layer over it. Native code is loaded
 * from {@code java.library.path} ({@code libm4cxr_jni.so}) or from the file named by the
 * system property {@code m4cxr.library}.
 *
 * <p><b>Ownership.</b> {@link org.m4cxr.Model}, {@link org.m4cxr.Session},
 * {@link org.m4cxr.Image} and {@link org.m4cxr.TaskStream} hold native memory and are
 * {@link java.lang.AutoCloseable}; close them (try-with-resources). {@code close()} calls the
 * C free; an object left unclosed is freed by a {@link java.lang.ref.Cleaner} once
 * unreachable. They may be closed in any order, from any thread, also while another thread
 * uses them (the C library checks its handles and defers frees): sessions keep the model's
 * weights, tasks their images' pixels. Closing a session stops its unfinished task. A closed
 * object throws {@link java.lang.IllegalStateException} when used.
 *
 * <p><b>Conversations.</b> Every task that brings its own images starts a new conversation
 * unless its {@link org.m4cxr.GenerationOptions} continue it;
 * {@link org.m4cxr.Session#chat(String)} always continues. Options are given per call. {@link org.m4cxr.Result}, {@link org.m4cxr.Box}, {@link org.m4cxr.Stats} and
 * {@link org.m4cxr.ModelInfo} are plain immutable Java values.
 *
 * <p><b>Threading.</b> Models and images are immutable and shared freely between threads.
 * A session (with its stream) is used by one thread at a time, otherwise
 * {@link org.m4cxr.Status#BUSY}; use one session per thread for parallel work. Cancel and
 * close work from any thread. Streaming pulls pieces on the caller's thread; the only call
 * from native code into the JVM is the log bridge, on the thread inside the C call.
 *
 * <p><b>Logging.</b> libm4cxr's messages go to the {@code java.util.logging} logger
 * {@code "m4cxr"} ({@link org.m4cxr.jni.LogBridge}): loading at INFO, task start and end at
 * FINE, adjusted inputs at WARNING, failures at SEVERE with the exception's text.
 *
 * <p><b>Errors.</b> Every failing C call becomes an unchecked {@link org.m4cxr.M4cxrException}
 * with the {@link org.m4cxr.Status} and the library's message ({@code m4cxr_last_error()}).
 */
package org.m4cxr;
