package org.m4cxr;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_model;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_session;
import org.m4cxr.jni.m4cxr_dtype;
import org.m4cxr.jni.m4cxr_model_info;
import org.m4cxr.jni.m4cxr_model_options;
import org.m4cxr.jni.m4cxr_pixel_format;
import org.m4cxr.jni.m4cxr_status;

/**
 * A loaded M4CXR checkpoint ({@code m4cxr_model}): the factory of {@link Session}s and
 * {@link Image}s.
 *
 * <p><b>Threading.</b> Immutable after loading: any number of threads may create sessions
 * and images from one model at the same time.
 *
 * <p><b>Ownership.</b> The model owns native memory (the weights); {@link #close()} it,
 * ideally with try-with-resources. Closing the model first closes every session and image
 * made from it that is still open (the C library requires them to go first); they then
 * throw {@link IllegalStateException} when used.
 */
public final class Model implements AutoCloseable {
  /** Load settings; a setting never given keeps the library's default. Mutable builder. */
  public static final class Options {
    private DType dtype;
    private String device;
    private Integer threads;
    private Path adapterDir;
    private Long maxImagePixels;

    /** Compute dtype (default {@link DType#BFLOAT16}; float32 reproduces the reference goldens). */
    public Options dtype(DType dtype) {
      this.dtype = Objects.requireNonNull(dtype);
      return this;
    }

    /** "cpu" (default), "cuda" or "cuda:N" with a CUDA libtorch. */
    public Options device(String device) {
      this.device = Objects.requireNonNull(device);
      return this;
    }

    /** Intra-op threads; 0 (default) = all cores. A process-wide setting of libtorch. */
    public Options threads(int threads) {
      this.threads = threads;
      return this;
    }

    /** A PEFT adapter folder merged at load time. */
    public Options adapterDir(Path adapterDir) {
      this.adapterDir = Objects.requireNonNull(adapterDir);
      return this;
    }

    /** Images with more pixels are refused (default 16384*16384). */
    public Options maxImagePixels(long maxImagePixels) {
      this.maxImagePixels = maxImagePixels;
      return this;
    }
  }

  private final HandleGuard<SWIGTYPE_p_m4cxr_model> guard;
  private final Path directory;
  private final Set<AutoCloseable> children = ConcurrentHashMap.newKeySet();

  private Model(SWIGTYPE_p_m4cxr_model handle, Path directory) {
    this.guard = new HandleGuard<>("model", handle);
    this.directory = directory;
  }

  /** Loads a checkpoint folder (config.json, *.safetensors, tokenizer.model) with the default options. */
  public static Model load(Path directory) {
    return load(directory, new Options());
  }

  /**
   * Loads a checkpoint folder (config.json, *.safetensors, tokenizer.model).
   *
   * @throws M4cxrException {@link Status#IO} for a missing folder or file, {@link Status#FORMAT} or
   *     {@link Status#MODEL} for a bad checkpoint, {@link Status#INVALID_ARGUMENT} for bad options
   */
  public static Model load(Path directory, Options options) {
    Objects.requireNonNull(directory, "directory");
    Objects.requireNonNull(options, "options");
    m4cxr_model_options o = new m4cxr_model_options();  // m4cxr_model_options_default
    try {
      if (options.dtype != null)
        o.setDtype(options.dtype == DType.FLOAT32 ? m4cxr_dtype.M4CXR_DTYPE_FLOAT32 : m4cxr_dtype.M4CXR_DTYPE_BFLOAT16);
      if (options.threads != null) o.setThreads(options.threads);
      if (options.maxImagePixels != null) o.setMax_image_pixels(options.maxImagePixels);
      SWIGTYPE_p_m4cxr_model[] out = new SWIGTYPE_p_m4cxr_model[1];
      m4cxr_status st = M4cxr.m4cxr_jni_model_load(directory.toString(), o, options.device,
                                                   options.adapterDir == null ? null : options.adapterDir.toString(), out);
      Native.check(st, "loading the model from " + directory);
      return new Model(out[0], directory);
    } finally {
      o.delete();
    }
  }

  /** Version of the loaded libm4cxr, "major.minor.patch". */
  public static String version() {
    return M4cxr.m4cxr_version_string();
  }

  /** The folder the model was loaded from. */
  public Path directory() {
    return directory;
  }

  /** Architecture and runtime facts. */
  public ModelInfo info() {
    SWIGTYPE_p_m4cxr_model h = guard.acquire();
    m4cxr_model_info i = new m4cxr_model_info();
    try {
      Native.check(M4cxr.m4cxr_model_get_info(h, i), "reading the model info");
      return new ModelInfo(i.getVisual_tokens_per_image(), i.getImage_size(), i.getVision_layers(),
                           i.getVision_hidden(), i.getText_layers(), i.getText_hidden(), i.getVocab_size(),
                           i.getDtype() == m4cxr_dtype.M4CXR_DTYPE_FLOAT32 ? DType.FLOAT32 : DType.BFLOAT16,
                           i.getDevice(), i.getWeight_bytes(), i.getLora_pairs_merged());
    } finally {
      i.delete();
      guard.release();
    }
  }

  /** A new conversation (its own KV cache). Close it when done. */
  public Session session() {
    SWIGTYPE_p_m4cxr_model h = guard.acquire();
    try {
      SWIGTYPE_p_m4cxr_session[] out = new SWIGTYPE_p_m4cxr_session[1];
      Native.check(M4cxr.m4cxr_session_create(h, out), "creating a session");
      return adopt(new Session(this, out[0]));
    } finally {
      guard.release();
    }
  }

  /**
   * Decodes a PNG (8/16-bit), JPEG or BMP file and preprocesses it for this model.
   *
   * @throws M4cxrException {@link Status#IO} (missing/unreadable), {@link Status#FORMAT} (corrupt),
   *     {@link Status#LIMIT} (too many pixels)
   */
  public Image image(Path file) {
    Objects.requireNonNull(file, "file");
    return makeImage("reading the image " + file, (h, out) -> M4cxr.m4cxr_image_from_file(h, file.toString(), out));
  }

  /** Same as {@link #image(Path)} from encoded file bytes (copied). */
  public Image image(byte[] encoded) {
    Objects.requireNonNull(encoded, "encoded");
    return makeImage("decoding the image bytes", (h, out) -> M4cxr.m4cxr_image_from_memory(h, encoded, out));
  }

  /**
   * An image from raw 8-bit pixels, rows packed without padding (copied).
   *
   * @param pixels width*height values for {@link PixelFormat#GRAY8}, width*height*3 for {@link PixelFormat#RGB8}
   */
  public Image imageFromPixels(byte[] pixels, int width, int height, PixelFormat format) {
    Objects.requireNonNull(pixels, "pixels");
    if (format.bytesPerSample() != 1)
      throw new IllegalArgumentException(format + " takes 16-bit samples: pass a short[]");
    return fromPixels(pixels, width, height, format);
  }

  /**
   * An image from raw 16-bit pixels (values 0-65535 as unsigned shorts), rows packed without padding (copied).
   *
   * @param pixels width*height values for {@link PixelFormat#GRAY16}, width*height*3 for {@link PixelFormat#RGB16}
   */
  public Image imageFromPixels(short[] pixels, int width, int height, PixelFormat format) {
    Objects.requireNonNull(pixels, "pixels");
    if (format.bytesPerSample() != 2)
      throw new IllegalArgumentException(format + " takes 8-bit samples: pass a byte[]");
    ByteBuffer b = ByteBuffer.allocate(pixels.length * 2).order(ByteOrder.nativeOrder());
    b.asShortBuffer().put(pixels);
    return fromPixels(b.array(), width, height, format);
  }

  private Image fromPixels(byte[] data, int width, int height, PixelFormat format) {
    long stride = (long) Math.max(width, 0) * format.channels() * format.bytesPerSample();
    m4cxr_pixel_format f = m4cxr_pixel_format.swigToEnum(format.ordinal());
    return makeImage("reading raw pixels", (h, out) -> M4cxr.m4cxr_image_from_pixels(h, data, width, height, stride, f, out));
  }

  /**
   * Parity tracing ({@code m4cxr_trace}): runs one prompt from scratch (no session) and
   * writes every stage as a NumPy .npy file into the existing folder {@code outDir}
   * (pixel_values, vision and abstractor stages, visual_tokens, prompt_ids, inputs_embeds,
   * logits), for stage-by-stage comparison with the Python reference.
   *
   * @param prompt the first user message without the system message, with one
   *     {@code <image>} marker per image, e.g. "radiology image: &lt;image&gt; Provide a
   *     description of the findings in the radiology image."
   */
  public void trace(List<Image> images, String prompt, Path outDir) {
    Objects.requireNonNull(images, "images");
    Objects.requireNonNull(outDir, "outDir");
    SWIGTYPE_p_m4cxr_model h = guard.acquire();
    SWIGTYPE_p_m4cxr_image[] handles = new SWIGTYPE_p_m4cxr_image[images.size()];
    int acquired = 0;
    try {
      for (; acquired < handles.length; ++acquired) {
        Image im = Objects.requireNonNull(images.get(acquired), "image");
        if (im.model() != this) throw new IllegalArgumentException("the image belongs to another model");
        handles[acquired] = im.acquire();
      }
      Native.check(M4cxr.m4cxr_trace(h, handles, prompt, outDir.toString()), "tracing into " + outDir);
    } finally {
      for (int i = 0; i < acquired; ++i) images.get(i).release();
      guard.release();
    }
  }

  private interface ImageMaker {
    m4cxr_status make(SWIGTYPE_p_m4cxr_model model, SWIGTYPE_p_m4cxr_image[] out);
  }

  private Image makeImage(String context, ImageMaker maker) {
    SWIGTYPE_p_m4cxr_model h = guard.acquire();
    try {
      SWIGTYPE_p_m4cxr_image[] out = new SWIGTYPE_p_m4cxr_image[1];
      Native.check(maker.make(h, out), context);
      return adopt(Image.wrap(this, out[0]));
    } finally {
      guard.release();
    }
  }

  private <T extends AutoCloseable> T adopt(T child) {
    children.add(child);  // under the guard: close() cannot have passed its snapshot yet
    return child;
  }

  void forget(AutoCloseable child) {
    children.remove(child);
  }

  /**
   * Closes every session and image of this model that is still open, then frees the
   * model. Waits for calls running on other threads; idempotent.
   */
  @Override
  public void close() {
    SWIGTYPE_p_m4cxr_model h = guard.close();
    if (h == null) return;
    List<AutoCloseable> open = new ArrayList<>(children);
    // Sessions first (they may still run tasks over the images), then images.
    open.sort((a, b) -> Boolean.compare(a instanceof Image, b instanceof Image));
    for (AutoCloseable c : open) {
      try {
        c.close();
      } catch (Exception e) {
        // close() of our own classes does not throw
      }
    }
    M4cxr.m4cxr_model_free(h);
  }

  @Override
  public String toString() {
    return "Model[" + directory + (guard.isClosed() ? ", closed]" : "]");
  }
}
