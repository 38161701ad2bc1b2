/* m4cxr.i - SWIG interface: the C API of include/m4cxr/m4cxr.h as C# P/Invoke.
 *
 * Generates M4cxr.Native.Api (one static method per C function, C names kept) and the
 * option/info/box/stats structs as SWIG proxy classes. Design rules:
 *  - handles are SafeHandles (ModelHandle, SessionHandle, ...; see Native/Support.cs).
 *    Inputs take the handle and pass its C token (no reference counting: the C library
 *    checks every token and defers frees, see "Freeing" in m4cxr.h); outputs (`T** out`)
 *    are `out IntPtr`, to be wrapped by the caller in its SafeHandle. The *_free functions
 *    take the raw IntPtr and are internal: the SafeHandles call them.
 *  - strings go in as UTF-8 copies and come back as UTF-8-decoded strings (no SWIG
 *    string or exception callbacks: nothing in the native library calls managed code).
 *  - (pointer, count) pairs are single C# arrays: images as ImageHandle[], labels as
 *    string[], boxes as double[] (4 per box), encoded/raw images as byte[].
 *  - callbacks are not exposed: m4cxr_task_run is wrapped without one and model options
 *    have no progress callback. Streaming is m4cxr_task_next (pull). The one exception is
 *    the log callback: m4cxr_set_log_callback is wrapped (internal) with a delegate
 *    (Native.LogCallback), installed once by M4cxr.Log, which keeps the delegate alive.
 */
%module(imclassname="ApiPINVOKE") Api

%{
#include <stdlib.h>
#include <string.h>
#include <m4cxr/m4cxr.h>

/* A (pointer, count) pair crossing the P/Invoke boundary as one argument. */
typedef struct m4cxr_cs_span {
  const void* data;
  uint64_t count;
} m4cxr_cs_span;

/* Model options plus owned copies of the strings assigned from C#. */
typedef struct m4cxr_cs_model_options {
  m4cxr_model_options options; /* first: a pointer to it is a pointer to the whole */
  char* device;
  char* adapter_dir;
} m4cxr_cs_model_options;

static char* m4cxr_cs_strdup(const char* s) {
  char* copy;
  if (s == NULL) return NULL;
  copy = (char*)malloc(strlen(s) + 1);
  if (copy != NULL) strcpy(copy, s);
  return copy;
}
%}

/* The generated C# carries no XML documentation: the C names are documented in m4cxr.h. */
%typemap(csimports) SWIGTYPE, enum SWIGTYPE "\n#pragma warning disable 1591\n"
%pragma(csharp) moduleimports="\n#pragma warning disable 1591\n"
%pragma(csharp) imclassimports="\n#pragma warning disable 1591\n"
%csconst(1);

%include <stdint.i>
%include <typemaps.i>
%apply unsigned long long { size_t };
%apply int* OUTPUT { int* width, int* height, int* turn };

/* ---------------------------------------------------------------- strings (UTF-8) */
%typemap(ctype) const char*, char* "const char*"
%typemap(imtype) const char*, char* "byte[]"
%typemap(cstype) const char*, char* "string"
%typemap(csin) const char*, char* "global::M4cxr.Native.Utf8.Encode($csinput)"
%typemap(in) const char*, char* %{ $1 = ($1_ltype)$input; %}
%typemap(imtype, out="global::System.IntPtr") const char*, char* "byte[]"
%typemap(out) const char*, char* %{ $result = $1; %}
%typemap(csout, excode=SWIGEXCODE) const char*, char* {
    string ret = global::M4cxr.Native.Utf8.Decode($imcall);$excode
    return ret;
  }
%typemap(csvarout, excode=SWIGEXCODE2) const char*, char* %{
    get {
      string ret = global::M4cxr.Native.Utf8.Decode($imcall);$excode
      return ret;
    } %}

/* ---------------------------------------------------------------- handles */
%define M4CXR_HANDLE(CTYPE, CSCLASS)
%typemap(ctype) CTYPE*, const CTYPE* "void*"
%typemap(imtype) CTYPE*, const CTYPE* "global::System.IntPtr"
%typemap(cstype) CTYPE*, const CTYPE* "global::M4cxr.Native.CSCLASS"
%typemap(csin) CTYPE*, const CTYPE* "global::M4cxr.Native.HandleUse.Raw($csinput)"
%typemap(in) CTYPE*, const CTYPE* %{ $1 = ($1_ltype)$input; %}
%typemap(ctype) CTYPE** "void**"
%typemap(imtype) CTYPE** "out global::System.IntPtr"
%typemap(cstype) CTYPE** "out global::System.IntPtr"
%typemap(csin) CTYPE** "out $csinput"
%typemap(in) CTYPE** %{ $1 = ($1_ltype)$input; %}
%enddef
M4CXR_HANDLE(m4cxr_model, ModelHandle)
M4CXR_HANDLE(m4cxr_session, SessionHandle)
M4CXR_HANDLE(m4cxr_image, ImageHandle)
M4CXR_HANDLE(m4cxr_task, TaskHandle)
M4CXR_HANDLE(m4cxr_task_args, TaskArgsHandle)
M4CXR_HANDLE(m4cxr_result, ResultHandle)

/* ---------------------------------------------------------------- (pointer, count) pairs */
%define M4CXR_SPAN(PAIR, CSTYPE, PIN)
%typemap(ctype) PAIR "m4cxr_cs_span"
%typemap(imtype) PAIR "global::M4cxr.Native.Span"
%typemap(cstype) PAIR "CSTYPE"
%typemap(csin, pre="    global::M4cxr.Native.Pinned $csinput_pin = global::M4cxr.Native.Pinned.PIN($csinput);",
         post="      $csinput_pin.Dispose();") PAIR "$csinput_pin.Span"
%typemap(in) PAIR %{ $1 = ($1_ltype)$input.data; $2 = (size_t)$input.count; %}
%enddef
M4CXR_SPAN(%arg((const m4cxr_image* const* images, size_t n)), global::M4cxr.Native.ImageHandle[], Handles)
M4CXR_SPAN(%arg((const m4cxr_image* const* prior, size_t n_prior)), global::M4cxr.Native.ImageHandle[], Handles)
M4CXR_SPAN(%arg((const m4cxr_image* const* current, size_t n_current)), global::M4cxr.Native.ImageHandle[], Handles)
M4CXR_SPAN(%arg((const char* const* labels, size_t n_labels)), string[], Strings)
M4CXR_SPAN(%arg((const char* const* findings, size_t n_findings)), string[], Strings)
M4CXR_SPAN(%arg((const double* boxes, size_t n_boxes)), double[], Boxes)
M4CXR_SPAN(%arg((const void* data, size_t size)), byte[], Bytes)
M4CXR_SPAN(%arg((const void* data, size_t data_bytes)), byte[], Bytes)

/* m4cxr_task_next: the piece comes back as a string (decoded from its length). */
%typemap(ctype) (const char** piece, size_t* length) "m4cxr_cs_span*"
%typemap(imtype) (const char** piece, size_t* length) "out global::M4cxr.Native.Span"
%typemap(cstype) (const char** piece, size_t* length) "out string"
%typemap(csin, pre="    global::M4cxr.Native.Span $csinput_span = default(global::M4cxr.Native.Span);",
         post="      $csinput = global::M4cxr.Native.Utf8.Decode($csinput_span);") (const char** piece, size_t* length) "out $csinput_span"
%typemap(in) (const char** piece, size_t* length) (const char* piece_ = NULL, size_t length_ = 0)
%{ $1 = ($1_ltype)&piece_; $2 = &length_; %}
%typemap(argout) (const char** piece, size_t* length)
%{ if ($input) { $input->data = piece_$argnum; $input->count = length_$argnum; } %}

/* m4cxr_image_get_dicom_field: the value comes back as a string (NUL-terminated UTF-8). */
%typemap(ctype) const char** value "const char**"
%typemap(imtype) const char** value "out global::System.IntPtr"
%typemap(cstype) const char** value "out string"
%typemap(csin, pre="    global::System.IntPtr $csinput_p = global::System.IntPtr.Zero;",
         post="      $csinput = global::M4cxr.Native.Utf8.Decode($csinput_p);") const char** value "out $csinput_p"
%typemap(in) const char** value %{ $1 = $input; %}

/* m4cxr_dicom_order_study: the orders come back in ulong[] arrays of the lists' lengths. */
%include <arrays_csharp.i>
%apply unsigned long long OUTPUT[] { size_t* order, size_t* prior_order };

/* m4cxr_set_log_callback: the function pointer is a delegate, user_data an IntPtr. */
%typemap(ctype) m4cxr_log_fn "m4cxr_log_fn"
%typemap(imtype) m4cxr_log_fn "global::M4cxr.Native.LogCallback"
%typemap(cstype) m4cxr_log_fn "global::M4cxr.Native.LogCallback"
%typemap(csin) m4cxr_log_fn "$csinput"
%typemap(in) m4cxr_log_fn %{ $1 = $input; %}
%typemap(ctype) void* log_user_data "void*"
%typemap(imtype) void* log_user_data "global::System.IntPtr"
%typemap(cstype) void* log_user_data "global::System.IntPtr"
%typemap(csin) void* log_user_data "$csinput"
%typemap(in) void* log_user_data %{ $1 = $input; %}
%csmethodmodifiers m4cxr_set_log_callback "internal";

/* m4cxr_task_run without a callback (runs the task to its end). */
%typemap(in, numinputs=0) (m4cxr_piece_fn on_piece, void* user_data) %{ $1 = NULL; $2 = NULL; %}

/* ---------------------------------------------------------------- 4-value boxes */
%define M4CXR_FOUR(CT, CST)
%typemap(ctype) const CT* FOUR_IN, CT* FOUR_OUT "CT*"
%typemap(imtype) const CT* FOUR_IN "CST[]"
%typemap(imtype, inattributes="[global::System.Runtime.InteropServices.Out]") CT* FOUR_OUT "CST[]"
%typemap(cstype) const CT* FOUR_IN, CT* FOUR_OUT "CST[]"
%typemap(csin) const CT* FOUR_IN, CT* FOUR_OUT "global::M4cxr.Native.Pinned.Four($csinput)"
%typemap(in) const CT* FOUR_IN, CT* FOUR_OUT %{ $1 = ($1_ltype)$input; %}
%enddef
M4CXR_FOUR(int, int)
M4CXR_FOUR(double, double)
%apply const double* FOUR_IN { const double* pixels };
%apply const double* FOUR_IN { const double* box };
%apply const int* FOUR_IN { const int* model };
%apply double* FOUR_OUT { double* pixels };
%apply int* FOUR_OUT { int* model };

/* ---------------------------------------------------------------- structs */
%ignore m4cxr_model_options::device;
%ignore m4cxr_model_options::adapter_dir;
%ignore m4cxr_model_options::progress;
%ignore m4cxr_model_options::progress_user_data;
%ignore m4cxr_box::model;
%ignore m4cxr_box::pixels;
%immutable m4cxr_model_info::device;
%immutable m4cxr_box::label;
%immutable m4cxr_token_info::text;
%immutable m4cxr_label_score::label;

%rename(device) m4cxr_model_options::device_;
%rename(adapter_dir) m4cxr_model_options::adapter_dir_;
%extend m4cxr_model_options {
  /* Filled by m4cxr_model_options_default. */
  m4cxr_model_options() {
    m4cxr_cs_model_options* o = (m4cxr_cs_model_options*)calloc(1, sizeof *o);
    if (o != NULL) m4cxr_model_options_default(&o->options);
    return &o->options;
  }
  ~m4cxr_model_options() {
    m4cxr_cs_model_options* o = (m4cxr_cs_model_options*)$self;
    free(o->device);
    free(o->adapter_dir);
    free(o);
  }
  /* Copied and owned by this object. */
  const char* device_;
  const char* adapter_dir_;
}

%{
static const char* m4cxr_model_options_device__get(m4cxr_model_options* o) { return o->device; }
static const char* m4cxr_model_options_adapter_dir__get(m4cxr_model_options* o) { return o->adapter_dir; }
static void m4cxr_model_options_device__set(m4cxr_model_options* o, const char* v) {
  m4cxr_cs_model_options* w = (m4cxr_cs_model_options*)o;
  free(w->device);
  w->device = m4cxr_cs_strdup(v);
  o->device = w->device;
}
static void m4cxr_model_options_adapter_dir__set(m4cxr_model_options* o, const char* v) {
  m4cxr_cs_model_options* w = (m4cxr_cs_model_options*)o;
  free(w->adapter_dir);
  w->adapter_dir = m4cxr_cs_strdup(v);
  o->adapter_dir = w->adapter_dir;
}
%}

%extend m4cxr_generation_options {
  /* Filled by m4cxr_generation_options_default. */
  m4cxr_generation_options() {
    m4cxr_generation_options* o = (m4cxr_generation_options*)calloc(1, sizeof *o);
    if (o != NULL) m4cxr_generation_options_default(o);
    return o;
  }
}
%extend m4cxr_dicom_options {
  /* Filled by m4cxr_dicom_options_default. */
  m4cxr_dicom_options() {
    m4cxr_dicom_options* o = (m4cxr_dicom_options*)calloc(1, sizeof *o);
    if (o != NULL) m4cxr_dicom_options_default(o);
    return o;
  }
}
%define M4CXR_SIZED(T)
%extend T {
  /* Zeroed with struct_size set. */
  T() {
    T* v = (T*)calloc(1, sizeof *v);
    if (v != NULL) v->struct_size = sizeof *v;
    return v;
  }
}
%enddef
M4CXR_SIZED(m4cxr_model_info)
M4CXR_SIZED(m4cxr_stats)
M4CXR_SIZED(m4cxr_box)
M4CXR_SIZED(m4cxr_token_info)
M4CXR_SIZED(m4cxr_label_score)
%extend m4cxr_box {
  /* Copies model[4] / pixels[4] into a caller array of 4. */
  void copy_model(int* model) { memcpy(model, $self->model, sizeof $self->model); }
  void copy_pixels(double* pixels) { memcpy(pixels, $self->pixels, sizeof $self->pixels); }
}

/* ---------------------------------------------------------------- functions */
/* The *_free functions are declared again below with a raw pointer (for the SafeHandles). */
%ignore m4cxr_model_free(m4cxr_model*);
%ignore m4cxr_session_free(m4cxr_session*);
%ignore m4cxr_image_free(m4cxr_image*);
%ignore m4cxr_task_free(m4cxr_task*);
%ignore m4cxr_task_args_free(m4cxr_task_args*);
%ignore m4cxr_result_free(m4cxr_result*);
%ignore m4cxr_progress_fn;
%ignore m4cxr_piece_fn;
%ignore m4cxr_log_fn;
%ignore m4cxr_set_log_callback;  /* declared below with its parameter named for the typemap */
/* Structured reports: through m4cxr_cs_result_document below (no struct holds a string
 * from C#); the buffer goes back with m4cxr_free (raw pointer, internal). */
%ignore m4cxr_report_export_options;
%ignore m4cxr_report_export_options_init;
%ignore m4cxr_result_to_fhir;
%ignore m4cxr_result_to_dicom_sr;

/* m4cxr_free takes the raw pointer (an IntPtr; internal). */
%typemap(ctype) void* p "void*"
%typemap(imtype) void* p "global::System.IntPtr"
%typemap(cstype) void* p "global::System.IntPtr"
%typemap(csin) void* p "$csinput"
%typemap(in) void* p %{ $1 = $input; %}
%csmethodmodifiers m4cxr_free "internal";

#define M4CXR_API
%include "m4cxr/m4cxr.h"
%rename("%s") m4cxr_set_log_callback;
m4cxr_status m4cxr_set_log_callback(m4cxr_log_fn fn, void* log_user_data, m4cxr_log_level min_level);

/* The free functions with the raw pointer, used by the SafeHandles (internal: dispose the
 * handle instead). C converts the void* argument to the handle type. */
%typemap(ctype) void* RAW "void*"
%typemap(imtype) void* RAW "global::System.IntPtr"
%typemap(cstype) void* RAW "global::System.IntPtr"
%typemap(csin) void* RAW "$csinput"
%typemap(in) void* RAW %{ $1 = $input; %}
%csmethodmodifiers m4cxr_model_free "internal";
%csmethodmodifiers m4cxr_session_free "internal";
%csmethodmodifiers m4cxr_image_free "internal";
%csmethodmodifiers m4cxr_task_free "internal";
%csmethodmodifiers m4cxr_task_args_free "internal";
%csmethodmodifiers m4cxr_result_free "internal";
void m4cxr_model_free(void* RAW);
void m4cxr_session_free(void* RAW);
void m4cxr_image_free(void* RAW);
void m4cxr_task_free(void* RAW);
void m4cxr_task_args_free(void* RAW);
void m4cxr_result_free(void* RAW);

/* m4cxr_result_to_fhir (dicom_sr 0: the JSON's UTF-8 bytes) or m4cxr_result_to_dicom_sr
 * (dicom_sr 1: the Part-10 file), issued at `issued` (null: now): the bytes in *out, to be
 * copied and released with m4cxr_free(out.Data). Internal: Result.ToFhir / ToDicomSr. */
%typemap(ctype) m4cxr_cs_span* document "m4cxr_cs_span*"
%typemap(imtype) m4cxr_cs_span* document "out global::M4cxr.Native.Span"
%typemap(cstype) m4cxr_cs_span* document "out global::M4cxr.Native.Span"
%typemap(csin) m4cxr_cs_span* document "out $csinput"
%typemap(in) m4cxr_cs_span* document %{ $1 = $input; %}
%csmethodmodifiers m4cxr_cs_result_document "internal";
%inline %{
m4cxr_status m4cxr_cs_result_document(const m4cxr_result* r, int dicom_sr, const char* issued,
                                      m4cxr_cs_span* document) {
  m4cxr_report_export_options o;
  m4cxr_status st;
  m4cxr_report_export_options_default(&o);
  o.issued = issued;
  document->data = NULL;
  document->count = 0;
  if (dicom_sr) {
    uint8_t* data = NULL;
    size_t size = 0;
    st = m4cxr_result_to_dicom_sr(r, &o, &data, &size);
    document->data = data;
    document->count = size;
  } else {
    char* json = NULL;
    st = m4cxr_result_to_fhir(r, &o, &json);
    document->data = json;
    document->count = json ? strlen(json) : 0;
  }
  return st;
}
%}
