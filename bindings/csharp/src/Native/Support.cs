// Hand-written part of the low-level layer M4cxr.Native: the SafeHandles that own the C
// handles and the marshalling helpers used by the SWIG-generated Api class (m4cxr.i).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace M4cxr.Native
{
    /// <summary>
    /// Owner of one C handle (m4cxr_model*, m4cxr_session*, ...). Releasing it calls the
    /// matching m4cxr_*_free exactly once, on Dispose or from the finalizer.
    /// </summary>
    /// <remarks>
    /// No reference counting here: the C library's handles are generation-checked tokens and
    /// its frees are deferred (any *_free may run on any thread, also while another thread is
    /// inside a call on the same object; the object goes when that call returns). Sessions
    /// keep their model's weights and tasks their images' pixels, so handles are freed in any
    /// order, also by finalizers. A call made with a disposed handle passes its stale token,
    /// which the C library refuses with M4CXR_ERR_INVALID_HANDLE. Thread-safe.
    /// </remarks>
    public abstract class M4cxrHandle : SafeHandle
    {
        /// <summary>Takes ownership of <paramref name="raw"/> (may be zero: an invalid handle).</summary>
        protected M4cxrHandle(IntPtr raw) : base(IntPtr.Zero, true)
        {
            SetHandle(raw);
        }

        /// <summary>True for a zero pointer.</summary>
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Frees the C object (never called twice).</summary>
        protected abstract void Release(IntPtr raw);

        /// <inheritdoc/>
        protected override bool ReleaseHandle()
        {
            Release(handle);
            return true;
        }
    }

    /// <summary>Owns an m4cxr_model* (m4cxr_model_free).</summary>
    public sealed class ModelHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by m4cxr_model_load.</summary>
        public ModelHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_model_free(raw); }
    }

    /// <summary>Owns an m4cxr_session* (m4cxr_session_free).</summary>
    public sealed class SessionHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by m4cxr_session_create.</summary>
        public SessionHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_session_free(raw); }
    }

    /// <summary>Owns an m4cxr_image* (m4cxr_image_free).</summary>
    public sealed class ImageHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by m4cxr_image_from_*.</summary>
        public ImageHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_image_free(raw); }
    }

    /// <summary>Owns an m4cxr_task* (m4cxr_task_free).</summary>
    public sealed class TaskHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by a task call.</summary>
        public TaskHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_task_free(raw); }
    }

    /// <summary>Owns an m4cxr_task_args* (m4cxr_task_args_free).</summary>
    public sealed class TaskArgsHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by m4cxr_task_args_create.</summary>
        public TaskArgsHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_task_args_free(raw); }
    }

    /// <summary>Owns an m4cxr_result* (m4cxr_result_free).</summary>
    public sealed class ResultHandle : M4cxrHandle
    {
        /// <summary>Takes ownership of a pointer returned by m4cxr_task_result.</summary>
        public ResultHandle(IntPtr raw) : base(raw) { }
        /// <inheritdoc/>
        protected override void Release(IntPtr raw) { Api.m4cxr_result_free(raw); }
    }

    /// <summary>
    /// m4cxr_log_fn: called by libm4cxr for each log message, on the thread inside the C call;
    /// <paramref name="message"/> is NUL-terminated UTF-8, valid during the call only. Must not
    /// throw. Whoever passes one to m4cxr_set_log_callback keeps it alive (a static field)
    /// while it is installed: the garbage collector does not see the native reference.
    /// </summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void LogCallback(IntPtr userData, m4cxr_log_level level, IntPtr message);

    /// <summary>A (pointer, count) pair passed as one argument (m4cxr_cs_span in the glue).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Span
    {
        public IntPtr Data;
        public ulong Count;
    }

    /// <summary>The C token of a handle for one native call.</summary>
    internal static class HandleUse
    {
        // null passes NULL; a disposed handle passes its stale token. The C function then
        // reports M4CXR_ERR_INVALID_HANDLE / INVALID_ARGUMENT with a message, like for any bad
        // handle. A concurrent Dispose is fine: the C library defers the free.
        public static IntPtr Raw(SafeHandle h)
        {
            return h == null ? IntPtr.Zero : h.DangerousGetHandle();
        }
    }

    /// <summary>UTF-8 conversions (the C API speaks UTF-8 only).</summary>
    internal static class Utf8
    {
        private static readonly UTF8Encoding Encoding = new UTF8Encoding(false, false);

        /// <summary>NUL-terminated UTF-8 copy; null stays null.</summary>
        public static byte[] Encode(string s)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("a string passed to m4cxr contains a NUL character");
            byte[] b = new byte[Encoding.GetByteCount(s) + 1];
            Encoding.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>A NUL-terminated C string; NULL gives null.</summary>
        public static string Decode(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) ++n;
            return Decode(p, n);
        }

        /// <summary>A string of known length (m4cxr_task_next pieces).</summary>
        public static string Decode(Span s)
        {
            return s.Data == IntPtr.Zero ? null : Decode(s.Data, checked((int)s.Count));
        }

        private static string Decode(IntPtr p, int n)
        {
            if (n == 0) return "";
            byte[] b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.GetString(b);
        }
    }

    /// <summary>
    /// Memory pinned or allocated for one call: arrays of handles, strings, boxes, bytes.
    /// Never throws while being built (bad entries become NULL, which the C API reports).
    /// </summary>
    internal sealed class Pinned : IDisposable
    {
        private GCHandle pin;
        private readonly List<IntPtr> allocations = new List<IntPtr>();

        public Span Span;

        private Pinned(object array, ulong count)
        {
            if (array == null) return;
            pin = GCHandle.Alloc(array, GCHandleType.Pinned);
            Span.Data = pin.AddrOfPinnedObject();
            Span.Count = count;
        }

        public static Pinned Handles(SafeHandle[] handles)
        {
            if (handles == null) return new Pinned(null, 0);
            var ptrs = new IntPtr[handles.Length];
            var p = new Pinned(ptrs, (ulong)ptrs.Length);
            for (int i = 0; i < handles.Length; ++i) ptrs[i] = HandleUse.Raw(handles[i]);
            return p;
        }

        public static Pinned Strings(string[] strings)
        {
            if (strings == null) return new Pinned(null, 0);
            var ptrs = new IntPtr[strings.Length];
            var p = new Pinned(ptrs, (ulong)ptrs.Length);
            for (int i = 0; i < strings.Length; ++i)
            {
                if (strings[i] == null || strings[i].IndexOf('\0') >= 0) continue;
                byte[] b = Utf8.Encode(strings[i]);
                ptrs[i] = Marshal.AllocHGlobal(b.Length);
                p.allocations.Add(ptrs[i]);
                Marshal.Copy(b, 0, ptrs[i], b.Length);
            }
            return p;
        }

        /// <summary>x1,y1,x2,y2 per box; a length that is not a multiple of 4 passes no box.</summary>
        public static Pinned Boxes(double[] boxes)
        {
            if (boxes == null || boxes.Length % 4 != 0) return new Pinned(null, 0);
            return new Pinned(boxes, (ulong)(boxes.Length / 4));
        }

        public static Pinned Bytes(byte[] bytes)
        {
            return new Pinned(bytes, bytes == null ? 0 : (ulong)bytes.Length);
        }

        /// <summary>The array when it holds exactly 4 values, else null (reported by the C API).</summary>
        public static T[] Four<T>(T[] values)
        {
            return values != null && values.Length == 4 ? values : null;
        }

        public void Dispose()
        {
            if (pin.IsAllocated) pin.Free();
            foreach (IntPtr a in allocations) Marshal.FreeHGlobal(a);
            allocations.Clear();
        }
    }
}
