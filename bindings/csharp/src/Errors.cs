using System;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>Status codes of the C API (m4cxr_status), same values.</summary>
    public enum Status
    {
        /// <summary>M4CXR_OK.</summary>
        Ok = 0,
        /// <summary>Bad value, null, empty prompt, ...</summary>
        InvalidArgument = 1,
        /// <summary>File missing or unreadable.</summary>
        Io = 2,
        /// <summary>Malformed file content (image, checkpoint, json).</summary>
        Format = 3,
        /// <summary>Well-formed but not supported.</summary>
        Unsupported = 4,
        /// <summary>Input over a configured limit (pixels, tokens).</summary>
        Limit = 5,
        /// <summary>Out of memory.</summary>
        OutOfMemory = 6,
        /// <summary>Stopped by a cancel call.</summary>
        Cancelled = 7,
        /// <summary>Object in use by another thread or task.</summary>
        Busy = 8,
        /// <summary>Checkpoint does not match the architecture.</summary>
        Model = 9,
        /// <summary>Internal error.</summary>
        Internal = 10,
        /// <summary>Null, freed or wrong kind of handle (e.g. a disposed object).</summary>
        InvalidHandle = 11,
        /// <summary>Not an error: a task has nothing more (M4CXR_DONE).</summary>
        Done = 100,
    }

    /// <summary>
    /// A C API call failed. <see cref="Exception.Message"/> is the message of
    /// m4cxr_last_error() for that call (file, tensor or argument at fault).
    /// </summary>
    [Serializable]
    public class M4cxrException : Exception
    {
        /// <summary>The C status code.</summary>
        public Status Status { get; private set; }

        /// <summary>Creates the exception for a failed call.</summary>
        public M4cxrException(Status status, string message) : base(message) { Status = status; }

        /// <summary>Throws for any status other than OK (and DONE) with this thread's last error.</summary>
        internal static void Check(m4cxr_status status)
        {
            if (status == m4cxr_status.M4CXR_OK || status == m4cxr_status.M4CXR_DONE) return;
            // Read at once, on the failing thread: the message is per thread and is replaced by
            // the next m4cxr call.
            string message = Api.m4cxr_last_error();
            if (string.IsNullOrEmpty(message)) message = Api.m4cxr_status_string(status);
            throw new M4cxrException((Status)(int)status, message);
        }
    }
}
