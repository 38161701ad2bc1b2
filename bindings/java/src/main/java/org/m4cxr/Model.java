package org.m4cxr;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import org.m4cxr.jni.M4cxr;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_image;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_model;
import org.m4cxr.jni.SWIGTYPE_p_m4cxr_session;
import org.m4cxr.jni.m4cxr_dicom_conversion;
import org.m4cxr.jni.m4cxr_dicom_options;
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
 * ideally with try-with-resources (a model that becomes unreachable unclosed is freed by the
 * garbage collector's cleaner). Objects may be closed in any order: sessions keep the
 * weights alive and images their pixels, so sessions and images made from the model keep
 * working after it is closed; only the model itself then throws
 * {@link IllegalStateException}.
 */
public final class Model implements AutoCloseable {
  /** Load settings; a setting never given keeps the library's default. Mutable builder. */
  public static final class Options {
    private DType dtype;
    private String device;
    private Integer threads;
    private Path adapterDir;
    private Long maxImagePixels;
    private Integer maxCachedImages;

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

    /**
     * Image embeddings each session keeps between tasks, least recently used dropped first
     * (default 8; 0 = none). See {@link Session#clearImageCache()}.
     */
    public Options maxCachedImages(int maxCachedImages) {
      this.maxCachedImages = maxCachedImages;
      return this;
    }
  }

  private final NativeRef<SWIGTYPE_p_m4cxr_model> ref;
  private final Path directory;

  private Model(SWIGTYPE_p_m4cxr_model handle, Path directory) {
    this.ref = new NativeRef<>(this, "model", handle, M4cxr::m4cxr_model_free);
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
        o.setDtype(options.dtype == DType.FLOAT32 ? m4cxr_dtype.M4CXR_DTYPE_FLOAT32
                   : options.dtype == DType.INT8  ? m4cxr_dtype.M4CXR_DTYPE_INT8
                                                  : m4cxr_dtype.M4CXR_DTYPE_BFLOAT16);
      if (options.threads != null) o.setThreads(options.threads);
      if (options.maxImagePixels != null) o.setMax_image_pixels(options.maxImagePixels);
      if (options.maxCachedImages != null) o.setMax_cached_images(options.maxCachedImages);
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

  /**
   * The task table built into the loaded library ({@code m4cxr_task_table_json()}): every
   * task with its arguments (types, counts, defaults) as JSON. The task methods of
   * {@link Session} are generated from the same table.
   */
  public static String taskTableJson() {
    return M4cxr.m4cxr_task_table_json();
  }

  /** The folder the model was loaded from. */
  public Path directory() {
    return directory;
  }

  /** Architecture and runtime facts. */
  public ModelInfo info() {
    SWIGTYPE_p_m4cxr_model h = ref.get();
    m4cxr_model_info i = new m4cxr_model_info();
    try {
      Native.check(M4cxr.m4cxr_model_get_info(h, i), "reading the model info");
      return new ModelInfo(i.getVisual_tokens_per_image(), i.getImage_size(), i.getVision_layers(),
                           i.getVision_hidden(), i.getText_layers(), i.getText_hidden(), i.getVocab_size(),
                           i.getDtype() == m4cxr_dtype.M4CXR_DTYPE_FLOAT32 ? DType.FLOAT32
                           : i.getDtype() == m4cxr_dtype.M4CXR_DTYPE_INT8 ? DType.INT8
                                                                          : DType.BFLOAT16,
                           i.getDevice(), i.getWeight_bytes(), i.getLora_pairs_merged());
    } finally {
      i.delete();
      Reference.reachabilityFence(this);
    }
  }

  /** A new conversation (its own KV cache). Close it when done. */
  public Session session() {
    try {
      SWIGTYPE_p_m4cxr_session[] out = new SWIGTYPE_p_m4cxr_session[1];
      Native.check(M4cxr.m4cxr_session_create(ref.get(), out), "creating a session");
      return new Session(this, out[0]);
    } finally {
      Reference.reachabilityFence(this);
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

  /**
   * Reads a DICOM Part-10 chest radiograph ({@code m4cxr_image_from_dicom_file}) with the
   * default conversion ({@link DicomConversion#MIMIC_JPG}); multi-frame objects, modalities
   * other than CR/DX/RG and colour are refused. {@link Image#dicom()} holds its identifiers.
   *
   * @throws M4cxrException {@link Status#IO}, {@link Status#FORMAT} (not Part-10, corrupt),
   *     {@link Status#UNSUPPORTED} (transfer syntax, modality, colour, frames), {@link Status#LIMIT}
   */
  public Image dicom(Path file) {
    return dicom(file, DicomConversion.MIMIC_JPG, false, false, false);
  }

  /** {@link #dicom(Path)} with a conversion and the overrides of what is refused by default. */
  public Image dicom(Path file, DicomConversion conversion, boolean allowMultiframe, boolean allowAnyModality,
                     boolean allowColor) {
    Objects.requireNonNull(file, "file");
    m4cxr_dicom_options o = dicomOptions(conversion, allowMultiframe, allowAnyModality, allowColor);
    try {
      return makeImage("reading the DICOM file " + file,
                       (h, out) -> M4cxr.m4cxr_image_from_dicom_file(h, file.toString(), o, out));
    } finally {
      o.delete();
    }
  }

  /** {@link #dicom(Path, DicomConversion, boolean, boolean, boolean)} from the file's bytes (read during the call). */
  public Image dicom(byte[] bytes, DicomConversion conversion, boolean allowMultiframe, boolean allowAnyModality,
                     boolean allowColor) {
    Objects.requireNonNull(bytes, "bytes");
    m4cxr_dicom_options o = dicomOptions(conversion, allowMultiframe, allowAnyModality, allowColor);
    try {
      return makeImage("reading DICOM bytes", (h, out) -> M4cxr.m4cxr_image_from_dicom_memory(h, bytes, o, out));
    } finally {
      o.delete();
    }
  }

  private static m4cxr_dicom_options dicomOptions(DicomConversion conversion, boolean multiframe, boolean anyModality,
                                                  boolean color) {
    Objects.requireNonNull(conversion, "conversion");
    m4cxr_dicom_options o = new m4cxr_dicom_options();  // m4cxr_dicom_options_default
    o.setConversion(switch (conversion) {
      case MIMIC_JPG -> m4cxr_dicom_conversion.M4CXR_DICOM_MIMIC_JPG;
      case VOI -> m4cxr_dicom_conversion.M4CXR_DICOM_VOI;
      case MIN_MAX -> m4cxr_dicom_conversion.M4CXR_DICOM_MIN_MAX;
    });
    o.setAllow_multiframe(multiframe ? 1 : 0);
    o.setAllow_any_modality(anyModality ? 1 : 0);
    o.setAllow_color(color ? 1 : 0);
    return o;
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
    SWIGTYPE_p_m4cxr_model h = ref.get();
    SWIGTYPE_p_m4cxr_image[] handles = new SWIGTYPE_p_m4cxr_image[images.size()];
    try {
      for (int i = 0; i < handles.length; ++i) {
        Image im = Objects.requireNonNull(images.get(i), "image");
        if (im.model() != this) throw new IllegalArgumentException("the image belongs to another model");
        handles[i] = im.handle();
      }
      Native.check(M4cxr.m4cxr_trace(h, handles, prompt, outDir.toString()), "tracing into " + outDir);
    } finally {
      Reference.reachabilityFence(this);
      Reference.reachabilityFence(images);
    }
  }

  private interface ImageMaker {
    m4cxr_status make(SWIGTYPE_p_m4cxr_model model, SWIGTYPE_p_m4cxr_image[] out);
  }

  private Image makeImage(String context, ImageMaker maker) {
    try {
      SWIGTYPE_p_m4cxr_image[] out = new SWIGTYPE_p_m4cxr_image[1];
      Native.check(maker.make(ref.get(), out), context);
      return Image.wrap(this, out[0]);
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /**
   * Frees the model handle ({@code m4cxr_model_free}); idempotent; any thread. Sessions and
   * images made from it stay usable (sessions keep the weights until they are closed).
   */
  @Override
  public void close() {
    ref.close();
  }

  @Override
  public String toString() {
    return "Model[" + directory + (ref.isClosed() ? ", closed]" : "]");
  }
}
