using System;
using System.Collections;
using System.Collections.Generic;
using System.Threading;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// A running task (m4cxr_task) streamed piece by piece over the pull API
    /// (m4cxr_task_next). Enumerate it once for the text pieces (complete UTF-8), then read
    /// <see cref="Result"/>; or read <see cref="Result"/> directly to run it to its end.
    /// </summary>
    /// <remarks>
    /// Ownership: dispose it (<c>using</c>). Until it is disposed or finished its session
    /// cannot start another task (M4cxrException with Status.Busy). Disposing an unfinished
    /// stream stops the generation and frees the task; breaking out of a <c>foreach</c> only
    /// pauses it.
    /// Threading: enumerated by one thread at a time; <see cref="Cancel"/> and the
    /// CancellationToken given at creation may fire from any thread and stop the generation
    /// within one transformer layer; the enumeration then ends normally and
    /// <see cref="Result"/> holds what was produced, with Stats.Cancelled set.
    /// Errors: a failing step throws <see cref="M4cxrException"/> from MoveNext/Result.
    /// </remarks>
    public sealed class TaskStream : IEnumerable<string>, IDisposable
    {
        private readonly TaskHandle handle;
        private readonly CancellationTokenRegistration registration;
        private bool enumerated, finished, cancelledEarly;
        private Result result;

        internal TaskStream(TaskHandle handle, CancellationToken cancellation)
        {
            this.handle = handle;
            if (cancellation.CanBeCanceled)
                registration = cancellation.Register(s => ((TaskStream)s).Cancel(), this);
        }

        /// <summary>0-based user turn of the task that produced the latest piece
        /// (a report streams its findings in turn 0 and the report in turn 1).</summary>
        public int Turn { get; private set; }

        /// <summary>True once the task has produced everything (or failed).</summary>
        public bool IsFinished { get { return finished; } }

        /// <summary>The pieces of text as they are generated. A task streams once.</summary>
        /// <exception cref="InvalidOperationException">Enumerated a second time.</exception>
        public IEnumerator<string> GetEnumerator()
        {
            if (enumerated) throw new InvalidOperationException("a task can be enumerated only once");
            enumerated = true;
            return Pieces();
        }

        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        private IEnumerator<string> Pieces()
        {
            string piece;
            while (Next(out piece)) yield return piece;
        }

        private bool Next(out string piece)
        {
            piece = null;
            if (finished) return false;
            if (handle.IsClosed) throw new ObjectDisposedException("TaskStream");
            int turn;
            m4cxr_status st = Api.m4cxr_task_next(handle, out piece, out turn);
            if (st == m4cxr_status.M4CXR_OK)
            {
                Turn = turn;
                return true;
            }
            finished = true;
            if (st == m4cxr_status.M4CXR_ERR_CANCELLED)
            {
                // A cancel that lands before the first token (image encoding, prefill) makes
                // m4cxr_task_next return M4CXR_ERR_CANCELLED instead of M4CXR_DONE, and the
                // result then says cancelled = 0. Reported here like any other cancel: the
                // stream ends and Result.Stats.Cancelled is true.
                cancelledEarly = true;
                return false;
            }
            M4cxrException.Check(st);
            return false;
        }

        /// <summary>
        /// The final result; runs the rest of the task first (without streaming it) when it
        /// is not finished yet.
        /// </summary>
        public Result Result
        {
            get
            {
                if (result != null) return result;
                string piece;
                while (Next(out piece)) { }
                IntPtr raw;
                M4cxrException.Check(Api.m4cxr_task_result(handle, out raw));
                using (var r = new ResultHandle(raw)) result = new Result(r, cancelledEarly);
                return result;
            }
        }

        /// <summary>Asks the task to stop as soon as possible; any thread; returns at once.</summary>
        public void Cancel()
        {
            Api.m4cxr_task_cancel(handle);  // a disposed task reports INVALID_HANDLE: nothing to stop
        }

        /// <summary>Stops the generation if it is still running and frees the task.</summary>
        public void Dispose()
        {
            registration.Dispose();  // waits for a cancel callback that is running
            handle.Dispose();
        }
    }
}
