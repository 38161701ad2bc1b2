/* m4cxr.i - SWIG interface: the C API of include/m4cxr/m4cxr.h (and the debugging aid
 * m4cxr_trace of m4cxr_debug.h) as Java package
 * org.m4cxr.jni (classes M4cxr, M4cxrJNI, M4cxrConstants, one class per struct/enum,
 * SWIGTYPE_p_m4cxr_* for the opaque handles). Names are kept exactly as in C.
 *
 * Mapping:
 *  - T** out (handles)            -> T[] of length >= 1; element 0 receives the new handle
 *  - const char* (in and out)      -> String, converted as real UTF-8 in Java (not JNI's
 *                                     modified UTF-8); NUL inside an argument is refused
 *  - const char* const*, size_t    -> String[] (null = NULL, 0)
 *  - image handle arrays, size_t   -> SWIGTYPE_p_m4cxr_image[] (null = NULL, 0)
 *  - const double* boxes, size_t   -> double[] of 4*n values (x1,y1,x2,y2 per box)
 *  - 4-value box in/out            -> double[4] / int[4] (also m4cxr_task_args_add_box's box)
 *  - encoded/raw buffers, size     -> byte[]
 *  - int* / size_t* out            -> int[] (element 0)
 *  - task_next piece, length       -> String[] (element 0 = the piece; untouched on DONE)
 *  - uint64_t                      -> long (same bits)
 *  - callbacks are not wrapped: m4cxr_task_run(task) runs without a callback and the
 *    progress fields of m4cxr_model_options are hidden (streaming uses m4cxr_task_next).
 *    The log callback is not wrapped either: m4cxr_set_log_callback is installed once by
 *    org.m4cxr.jni.LogBridge (hand-written JNI below), which forwards every message to
 *    java.util.logging.
 *  - the string fields of m4cxr_model_options (device, adapter_dir) are hidden: pass them
 *    to m4cxr_jni_model_load, so no struct ever owns a string allocated by the binding.
 * Option/info structs built from Java are initialised by their C *_default() or with
 * struct_size set; struct_size is read-only.
 */
%module M4cxr

%{
#include <m4cxr/m4cxr.h>
#include <m4cxr/m4cxr_debug.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {
/* A byte[] with the bytes of s (NULL -> null). */
jbyteArray m4cxr_jni_bytes(JNIEnv* jenv, const char* s, size_t n) {
  if (s == nullptr) return nullptr;
  jbyteArray a = jenv->NewByteArray(static_cast<jsize>(n));
  if (a != nullptr && n > 0) jenv->SetByteArrayRegion(a, 0, static_cast<jsize>(n), reinterpret_cast<const jbyte*>(s));
  return a;
}

/* Copies a byte[][] of NUL-terminated UTF-8 strings (from M4cxr.utf8z) into malloc'd memory. */
bool m4cxr_jni_strings(JNIEnv* jenv, jobjectArray a, char*** out, size_t* n) {
  *out = nullptr;
  *n = 0;
  if (a == nullptr) return true;
  const jsize len = jenv->GetArrayLength(a);
  char** v = static_cast<char**>(std::calloc(static_cast<size_t>(len) + 1, sizeof(char*)));
  if (v == nullptr) return false;
  for (jsize i = 0; i < len; ++i) {
    jbyteArray b = static_cast<jbyteArray>(jenv->GetObjectArrayElement(a, i));
    if (b == nullptr) {
      v[i] = nullptr; /* the library reports a NULL string */
      continue;
    }
    const jsize bl = jenv->GetArrayLength(b);
    v[i] = static_cast<char*>(std::malloc(static_cast<size_t>(bl) + 1));
    if (v[i] != nullptr) {
      jenv->GetByteArrayRegion(b, 0, bl, reinterpret_cast<jbyte*>(v[i]));
      v[i][bl] = '\0';
    }
    jenv->DeleteLocalRef(b);
    if (v[i] == nullptr) {
      for (jsize k = 0; k < i; ++k) std::free(v[k]);
      std::free(v);
      return false;
    }
  }
  *out = v;
  *n = static_cast<size_t>(len);
  return true;
}

void m4cxr_jni_free_strings(char** v, size_t n) {
  if (v == nullptr) return;
  for (size_t i = 0; i < n; ++i) std::free(v[i]);
  std::free(v);
}

/* ---- the log callback: m4cxr_set_log_callback -> org.m4cxr.jni.LogBridge.log(int, byte[])
 * Installed by LogBridge.install (the class, its method ID and the JVM cached then) and
 * removed by LogBridge.uninstall (a shutdown hook) or when this library is unloaded. The C
 * library calls it on the thread inside the call, normally a Java thread; a thread the
 * JVM does not know is attached as a daemon for the call and detached after. An
 * exception pending on the thread is set aside during the call and restored; one thrown
 * by the Java side is cleared (it cannot cross the C library). */
JavaVM* m4cxr_jni_vm = nullptr;
jclass m4cxr_jni_log_class = nullptr;  /* global reference */
jmethodID m4cxr_jni_log_method = nullptr;

void m4cxr_jni_log(void*, m4cxr_log_level level, const char* message) {
  JavaVM* vm = m4cxr_jni_vm;
  if (vm == nullptr) return;
  JNIEnv* env = nullptr;
  bool attached = false;
  const jint got = vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_8);
  if (got == JNI_EDETACHED) {
    if (vm->AttachCurrentThreadAsDaemon(reinterpret_cast<void**>(&env), nullptr) != JNI_OK) return; /* JVM going */
    attached = true;
  } else if (got != JNI_OK) {
    return;
  }
  jthrowable pending = env->ExceptionOccurred();
  if (pending != nullptr) env->ExceptionClear();
  jbyteArray bytes = m4cxr_jni_bytes(env, message, std::strlen(message));
  if (bytes != nullptr) {
    env->CallStaticVoidMethod(m4cxr_jni_log_class, m4cxr_jni_log_method, static_cast<jint>(level), bytes);
    env->DeleteLocalRef(bytes);
  }
  if (env->ExceptionCheck()) env->ExceptionClear();
  if (pending != nullptr) {
    env->Throw(pending);
    env->DeleteLocalRef(pending);
  }
  if (attached) vm->DetachCurrentThread();
}
}  // namespace

extern "C" {
/* LogBridge.install(int minLevel): caches what m4cxr_jni_log needs and installs it. */
JNIEXPORT jint JNICALL Java_org_m4cxr_jni_LogBridge_install(JNIEnv* env, jclass cls, jint min_level) {
  if (m4cxr_jni_vm == nullptr) {
    JavaVM* vm = nullptr;
    if (env->GetJavaVM(&vm) != JNI_OK) return M4CXR_ERR_INTERNAL;
    jmethodID log = env->GetStaticMethodID(cls, "log", "(I[B)V");
    if (log == nullptr) return M4CXR_ERR_INTERNAL; /* NoSuchMethodError pending */
    jclass global = static_cast<jclass>(env->NewGlobalRef(cls));
    if (global == nullptr) return M4CXR_ERR_OUT_OF_MEMORY;
    m4cxr_jni_log_class = global;
    m4cxr_jni_log_method = log;
    m4cxr_jni_vm = vm;
  }
  return m4cxr_set_log_callback(m4cxr_jni_log, nullptr, static_cast<m4cxr_log_level>(min_level));
}

/* LogBridge.uninstall(): no call of m4cxr_jni_log runs or starts once this returns. */
JNIEXPORT jint JNICALL Java_org_m4cxr_jni_LogBridge_uninstall(JNIEnv*, jclass) {
  return m4cxr_set_log_callback(nullptr, nullptr, M4CXR_LOG_DEBUG);
}

/* The callback's code goes with this library: never leave it installed. */
JNIEXPORT void JNICALL JNI_OnUnload(JavaVM*, void*) { m4cxr_set_log_callback(nullptr, nullptr, M4CXR_LOG_DEBUG); }
}
%}

%include <stdint.i>
%include <arrays_java.i>
%include <typemaps.i>
%include <enums.swg>
%javaconst(1);

/* ------------------------------------------------------------------ loading */
%pragma(java) jniclasscode=%{
  static {
    NativeLibrary.load();
    int abi = m4cxr_abi_version();
    if (abi != M4cxrConstants.M4CXR_ABI_VERSION)
      throw new UnsatisfiedLinkError("libm4cxr ABI " + abi + " does not match the binding's "
                                     + M4cxrConstants.M4CXR_ABI_VERSION);
    LogBridge.start();
  }
%}

%pragma(java) modulecode=%{
  /** UTF-8 bytes of s with a terminating NUL (null stays null); refuses an embedded NUL. */
  static byte[] utf8z(String s) {
    if (s == null) return null;
    if (s.indexOf('\0') >= 0) throw new IllegalArgumentException("string contains a NUL character");
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return java.util.Arrays.copyOf(b, b.length + 1);
  }

  static byte[][] utf8z(String[] s) {
    if (s == null) return null;
    byte[][] out = new byte[s.length][];
    for (int i = 0; i < s.length; ++i) out[i] = utf8z(s[i]);
    return out;
  }

  /** Decodes UTF-8 bytes from the library (null stays null). */
  static String utf8(byte[] b) {
    return b == null ? null : new String(b, java.nio.charset.StandardCharsets.UTF_8);
  }

  static long[] cptrs(SWIGTYPE_p_m4cxr_image[] images) {
    if (images == null) return null;
    long[] out = new long[images.length];
    for (int i = 0; i < images.length; ++i) out[i] = SWIGTYPE_p_m4cxr_image.getCPtr(images[i]);
    return out;
  }
%}

/* ------------------------------------------------------------------ strings (UTF-8) */
%typemap(jni) const char* "jbyteArray"
%typemap(jtype) const char* "byte[]"
%typemap(jstype) const char* "String"
%typemap(javain) const char* "M4cxr.utf8z($javainput)"
%typemap(javaout) const char* { return M4cxr.utf8($jnicall); }
%typemap(in) const char* {
  $1 = nullptr;
  if ($input) {
    $1 = reinterpret_cast<$1_ltype>(jenv->GetByteArrayElements($input, nullptr));
    if (!$1) return $null;
  }
}
%typemap(freearg) const char* {
  if ($1) jenv->ReleaseByteArrayElements($input, reinterpret_cast<jbyte*>(const_cast<char*>($1)), JNI_ABORT);
}
%typemap(out) const char* { $result = m4cxr_jni_bytes(jenv, $1, $1 ? std::strlen($1) : 0); }

/* const char* const* list, size_t n -> String[] */
%typemap(jni) (const char* const* labels, size_t n_labels) "jobjectArray"
%typemap(jtype) (const char* const* labels, size_t n_labels) "byte[][]"
%typemap(jstype) (const char* const* labels, size_t n_labels) "String[]"
%typemap(javain) (const char* const* labels, size_t n_labels) "M4cxr.utf8z($javainput)"
%typemap(in) (const char* const* labels, size_t n_labels) (char** strs = nullptr, size_t count = 0) {
  if (!m4cxr_jni_strings(jenv, $input, &strs, &count)) {
    SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "copying strings");
    return $null;
  }
  $1 = ($1_ltype)strs;
  $2 = count;
}
%typemap(freearg) (const char* const* labels, size_t n_labels) { m4cxr_jni_free_strings(strs$argnum, count$argnum); }
%apply (const char* const* labels, size_t n_labels) { (const char* const* findings, size_t n_findings) };

/* ------------------------------------------------------------------ handles out */
%define M4CXR_OUT_HANDLE(TYPE)
%typemap(jni) TYPE** out "jlongArray"
%typemap(jtype) TYPE** out "long[]"
%typemap(jstype) TYPE** out "$*javaclassname[]"
%typemap(javain, pre="    long[] cptr$javainput = new long[1];",
         post="      if (cptr$javainput[0] != 0) $javainput[0] = new $*javaclassname(cptr$javainput[0], false);")
    TYPE** out "cptr$javainput"
%typemap(in) TYPE** out (TYPE* handle = nullptr) { $1 = &handle; }
%typemap(argout) TYPE** out {
  jlong v = reinterpret_cast<jlong>(handle$argnum);
  jenv->SetLongArrayRegion($input, 0, 1, &v);
}
%enddef
M4CXR_OUT_HANDLE(m4cxr_model)
M4CXR_OUT_HANDLE(m4cxr_session)
M4CXR_OUT_HANDLE(m4cxr_image)
M4CXR_OUT_HANDLE(m4cxr_task)
M4CXR_OUT_HANDLE(m4cxr_result)
M4CXR_OUT_HANDLE(m4cxr_task_args)

/* ------------------------------------------------------------------ image handle arrays */
%typemap(jni) (const m4cxr_image* const* images, size_t n) "jlongArray"
%typemap(jtype) (const m4cxr_image* const* images, size_t n) "long[]"
%typemap(jstype) (const m4cxr_image* const* images, size_t n) "SWIGTYPE_p_m4cxr_image[]"
%typemap(javain) (const m4cxr_image* const* images, size_t n) "M4cxr.cptrs($javainput)"
%typemap(in) (const m4cxr_image* const* images, size_t n) (const m4cxr_image** ims = nullptr) {
  $2 = 0;
  if ($input) {
    const jsize len = jenv->GetArrayLength($input);
    ims = static_cast<const m4cxr_image**>(std::calloc(static_cast<size_t>(len) + 1, sizeof(*ims)));
    if (ims == nullptr) {
      SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "copying image handles");
      return $null;
    }
    jlong* p = jenv->GetLongArrayElements($input, nullptr);
    if (p == nullptr) { std::free(ims); return $null; }
    for (jsize i = 0; i < len; ++i) ims[i] = reinterpret_cast<const m4cxr_image*>(p[i]);
    jenv->ReleaseLongArrayElements($input, p, JNI_ABORT);
    $2 = static_cast<size_t>(len);
  }
  $1 = ($1_ltype)ims;
}
%typemap(freearg) (const m4cxr_image* const* images, size_t n) { std::free(ims$argnum); }
%apply (const m4cxr_image* const* images, size_t n) {
  (const m4cxr_image* const* prior, size_t n_prior), (const m4cxr_image* const* current, size_t n_current) };

/* ------------------------------------------------------------------ byte buffers */
%typemap(jni) (const void* data, size_t size) "jbyteArray"
%typemap(jtype) (const void* data, size_t size) "byte[]"
%typemap(jstype) (const void* data, size_t size) "byte[]"
%typemap(javain) (const void* data, size_t size) "$javainput"
%typemap(in) (const void* data, size_t size) {
  $1 = nullptr;
  $2 = 0;
  if ($input) {
    $1 = jenv->GetByteArrayElements($input, nullptr);
    if (!$1) return $null;
    $2 = static_cast<size_t>(jenv->GetArrayLength($input));
  }
}
%typemap(freearg) (const void* data, size_t size) {
  if ($1) jenv->ReleaseByteArrayElements($input, static_cast<jbyte*>(const_cast<void*>($1)), JNI_ABORT);
}
%apply (const void* data, size_t size) { (const void* data, size_t data_bytes) };

/* ------------------------------------------------------------------ boxes */
/* const double* boxes, size_t n_boxes -> double[] holding 4 values per box */
%typemap(jni) (const double* boxes, size_t n_boxes) "jdoubleArray"
%typemap(jtype) (const double* boxes, size_t n_boxes) "double[]"
%typemap(jstype) (const double* boxes, size_t n_boxes) "double[]"
%typemap(javain) (const double* boxes, size_t n_boxes) "$javainput"
%typemap(in) (const double* boxes, size_t n_boxes) {
  $1 = nullptr;
  $2 = 0;
  if ($input) {
    const jsize len = jenv->GetArrayLength($input);
    if (len % 4 != 0) {
      SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException, "boxes must hold 4 values (x1,y1,x2,y2) per box");
      return $null;
    }
    $1 = jenv->GetDoubleArrayElements($input, nullptr);
    if (!$1) return $null;
    $2 = static_cast<size_t>(len / 4);
  }
}
%typemap(freearg) (const double* boxes, size_t n_boxes) {
  if ($1) jenv->ReleaseDoubleArrayElements($input, const_cast<double*>($1), JNI_ABORT);
}

/* exactly-4-value boxes of the geometry helpers: copied in, and out for the non-const ones */
%define M4CXR_BOX4(CTYPE, JARRAY, JNIARRAY, JNIELEM, REGION)
%typemap(jni) CTYPE* BOX4 JNIARRAY
%typemap(jtype) CTYPE* BOX4 JARRAY
%typemap(jstype) CTYPE* BOX4 JARRAY
%typemap(javain) CTYPE* BOX4 "$javainput"
%typemap(in) CTYPE* BOX4 (CTYPE tmp[4]) {
  if (!$input || jenv->GetArrayLength($input) != 4) {
    SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException, "a box is an array of 4 values");
    return $null;
  }
  jenv->Get##REGION##ArrayRegion($input, 0, 4, reinterpret_cast<JNIELEM*>(tmp));
  $1 = tmp;
}
%typemap(argout) CTYPE* BOX4 { jenv->Set##REGION##ArrayRegion($input, 0, 4, reinterpret_cast<JNIELEM*>(tmp$argnum)); }
%typemap(jni) const CTYPE* BOX4 = CTYPE* BOX4;
%typemap(jtype) const CTYPE* BOX4 = CTYPE* BOX4;
%typemap(jstype) const CTYPE* BOX4 = CTYPE* BOX4;
%typemap(javain) const CTYPE* BOX4 = CTYPE* BOX4;
%typemap(in) const CTYPE* BOX4 = CTYPE* BOX4;
%enddef
M4CXR_BOX4(double, "double[]", "jdoubleArray", jdouble, Double)
M4CXR_BOX4(int, "int[]", "jintArray", jint, Int)
%apply const double* BOX4 { const double* pixels };
%apply const double* BOX4 { const double* box };
%apply double* BOX4 { double* pixels };
%apply const int* BOX4 { const int* model };
%apply int* BOX4 { int* model };

/* ------------------------------------------------------------------ scalars out */
%apply int* OUTPUT { int* width, int* height, int* turn };
%apply int64_t { uint64_t };

/* m4cxr_task_next: (const char** piece, size_t* length) -> String[] */
%typemap(jni) (const char** piece, size_t* length) "jobjectArray"
%typemap(jtype) (const char** piece, size_t* length) "byte[][]"
%typemap(jstype) (const char** piece, size_t* length) "String[]"
%typemap(javain, pre="    byte[][] bytes$javainput = new byte[1][];",
         post="      if (bytes$javainput[0] != null) $javainput[0] = M4cxr.utf8(bytes$javainput[0]);")
    (const char** piece, size_t* length) "bytes$javainput"
%typemap(in) (const char** piece, size_t* length) (const char* p = nullptr, size_t len = 0) {
  $1 = ($1_ltype)&p;
  $2 = &len;
}
%typemap(argout) (const char** piece, size_t* length) {
  if (p$argnum != nullptr) {
    jbyteArray b = m4cxr_jni_bytes(jenv, p$argnum, len$argnum);
    if (b == nullptr) return $null;
    jenv->SetObjectArrayElement($input, 0, b);
    jenv->DeleteLocalRef(b);
  }
}

/* m4cxr_task_run without a callback */
%typemap(in, numinputs=0) (m4cxr_piece_fn on_piece, void* user_data) {
  $1 = nullptr;
  $2 = nullptr;
}

/* ------------------------------------------------------------------ structs */
%immutable struct_size;
%immutable m4cxr_model_info::device;
%immutable m4cxr_box::label;
%immutable m4cxr_token_info::text;
%immutable m4cxr_label_score::label;
%ignore m4cxr_model_options::device;
%ignore m4cxr_model_options::adapter_dir;
%ignore m4cxr_model_options::progress;
%ignore m4cxr_model_options::progress_user_data;
%ignore m4cxr_progress_fn;
%ignore m4cxr_piece_fn;
%ignore m4cxr_log_fn;
%ignore m4cxr_set_log_callback;

%extend m4cxr_model_options {
  /** Defaults of m4cxr_model_options_default(). */
  m4cxr_model_options() {
    m4cxr_model_options* o = new m4cxr_model_options();
    m4cxr_model_options_default(o);
    return o;
  }
}
%extend m4cxr_generation_options {
  /** Defaults of m4cxr_generation_options_default(). */
  m4cxr_generation_options() {
    m4cxr_generation_options* o = new m4cxr_generation_options();
    m4cxr_generation_options_default(o);
    return o;
  }
}
%extend m4cxr_dicom_options {
  /** Defaults of m4cxr_dicom_options_default(). */
  m4cxr_dicom_options() {
    m4cxr_dicom_options* o = new m4cxr_dicom_options();
    m4cxr_dicom_options_default(o);
    return o;
  }
}
/* Structured reports: through m4cxr_jni_result_document below (no struct owns a string,
 * no buffer is handed to Java to free). */
%ignore m4cxr_report_export_options;
%ignore m4cxr_report_export_options_init;
%ignore m4cxr_result_to_fhir;
%ignore m4cxr_result_to_dicom_sr;
%ignore m4cxr_free;
/* DICOM: the field accessor and the study order through the helpers below. */
%ignore m4cxr_image_get_dicom_field;
%ignore m4cxr_dicom_order_study;
%define M4CXR_SIZED(TYPE)
%extend TYPE {
  TYPE() {
    TYPE* o = new TYPE();
    o->struct_size = sizeof(TYPE);
    return o;
  }
}
%enddef
M4CXR_SIZED(m4cxr_model_info)
M4CXR_SIZED(m4cxr_box)
M4CXR_SIZED(m4cxr_stats)
M4CXR_SIZED(m4cxr_token_info)
M4CXR_SIZED(m4cxr_label_score)

%include "m4cxr/m4cxr.h"
%include "m4cxr/m4cxr_debug.h"

/* ------------------------------------------------------------------ helper */
%inline %{
/* m4cxr_model_load with the string fields of the options given as arguments (NULL keeps
 * the default); the progress callback is never set. */
m4cxr_status m4cxr_jni_model_load(const char* model_dir, const m4cxr_model_options* options, const char* device,
                                  const char* adapter_dir, m4cxr_model** out) {
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  if (options != nullptr) {
    if (options->struct_size != sizeof o) return m4cxr_model_load(model_dir, options, out); /* reports it */
    o = *options;
  }
  if (device != nullptr) o.device = device;
  if (adapter_dir != nullptr) o.adapter_dir = adapter_dir;
  o.progress = nullptr;
  o.progress_user_data = nullptr;
  return m4cxr_model_load(model_dir, &o, out);
}
%}

%typemap(in, numinputs=0) JNIEnv* jenv "$1 = jenv;"
%apply int* OUTPUT { int* status };
%apply int[] { int* order };
%inline %{
/* m4cxr_image_get_dicom_field for Java: the value as bytes (UTF-8), or null when the call
 * fails; the status goes to status[0]. */
jbyteArray m4cxr_jni_dicom_field(JNIEnv* jenv, const m4cxr_image* image, int field, int* status) {
  const char* v = nullptr;
  m4cxr_dicom_field f;
  std::memcpy(&f, &field, sizeof f);
  *status = static_cast<int>(m4cxr_image_get_dicom_field(image, f, &v));
  return v == nullptr ? nullptr : m4cxr_jni_bytes(jenv, v, std::strlen(v));
}

/* m4cxr_result_to_fhir (dicom_sr 0: the JSON's UTF-8 bytes) or m4cxr_result_to_dicom_sr
 * (dicom_sr 1: the Part-10 file) for Java, issued at `issued` (NULL: now); null when the
 * call fails, the status in status[0]. */
jbyteArray m4cxr_jni_result_document(JNIEnv* jenv, const m4cxr_result* r, int dicom_sr, const char* issued,
                                     int* status) {
  m4cxr_report_export_options o;
  m4cxr_report_export_options_default(&o);
  o.issued = issued;
  jbyteArray out = nullptr;
  if (dicom_sr != 0) {
    uint8_t* data = nullptr;
    size_t size = 0;
    *status = static_cast<int>(m4cxr_result_to_dicom_sr(r, &o, &data, &size));
    if (data != nullptr) out = m4cxr_jni_bytes(jenv, reinterpret_cast<const char*>(data), size);
    m4cxr_free(data);
  } else {
    char* json = nullptr;
    *status = static_cast<int>(m4cxr_result_to_fhir(r, &o, &json));
    if (json != nullptr) out = m4cxr_jni_bytes(jenv, json, std::strlen(json));
    m4cxr_free(json);
  }
  return out;
}

/* m4cxr_dicom_order_study for Java: order[0..n) then prior_order[0..n_prior) in `order`
 * (length n + n_prior). */
m4cxr_status m4cxr_jni_dicom_order_study(const m4cxr_image* const* images, size_t n, const m4cxr_image* const* prior,
                                         size_t n_prior, int* order) {
  size_t* a = static_cast<size_t*>(std::calloc(n + n_prior + 1, sizeof(size_t)));
  if (a == nullptr) return M4CXR_ERR_OUT_OF_MEMORY;
  const m4cxr_status st = m4cxr_dicom_order_study(images, n, n_prior ? prior : nullptr, n_prior, a, n_prior ? a + n : nullptr);
  if (st == M4CXR_OK)
    for (size_t i = 0; i < n + n_prior; ++i) order[i] = static_cast<int>(a[i]);
  std::free(a);
  return st;
}
%}
