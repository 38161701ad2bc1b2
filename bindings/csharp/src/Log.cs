// TraceSource.TraceEvent is [Conditional("TRACE")]: without this define (mcs does not set
// it) the calls below would be compiled out.
#define TRACE
using System;
using System.Diagnostics;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>Severity of a libm4cxr log message (m4cxr_log_level).</summary>
    public enum LogLevel
    {
        /// <summary>Task start and end, image cache evictions.</summary>
        Debug = 0,
        /// <summary>Model loading.</summary>
        Info = 1,
        /// <summary>Inputs adjusted instead of refused (a clipped box); busy or cancelled calls.</summary>
        Warning = 2,
        /// <summary>Every other failure the C library reports (the text of the exception that follows).</summary>
        Error = 3,
    }

    /// <summary>One libm4cxr log message (see <see cref="Log.Message"/>).</summary>
    public sealed class LogEventArgs : EventArgs
    {
        internal LogEventArgs(LogLevel level, string message)
        {
            Level = level;
            Message = message;
        }

        /// <summary>Severity.</summary>
        public LogLevel Level { get; private set; }

        /// <summary>One line of English text, no prompt or answer text at Info and above.</summary>
        public string Message { get; private set; }
    }

    /// <summary>
    /// libm4cxr's log messages (m4cxr_set_log_callback): model loading at Info, task start
    /// and end at Debug, adjusted inputs (a clipped box) at Warning, every failure the C
    /// library reports at Error (Warning for busy and cancelled) with the text of the
    /// <see cref="M4cxrException"/> that follows.
    /// </summary>
    /// <remarks>
    /// Messages go to the <see cref="TraceSource"/> <see cref="Source"/> ("m4cxr"; level Off
    /// and no listener of its own unless the application configures one, e.g. in its
    /// app.config or with <c>Log.Source.Switch.Level = SourceLevels.Information</c> and
    /// <c>Log.Source.Listeners.Add(...)</c>) and to the <see cref="Message"/> event. Both run
    /// on the thread inside the C call, i.e. the thread that called the binding (libm4cxr
    /// starts no threads); handlers must not call into m4cxr and should return quickly. An
    /// exception thrown by a handler is dropped (it cannot cross the C library). The
    /// callback is installed the first time a model is loaded (or by <see cref="Install"/>)
    /// and removed when the process exits; its delegate is kept in a static field, so the
    /// garbage collector never frees it while the C library holds it.
    /// </remarks>
    public static class Log
    {
        /// <summary>The trace source "m4cxr" that receives every message its switch lets through.</summary>
        public static readonly TraceSource Source = new TraceSource("m4cxr");

        /// <summary>Raised for every message (sender null), whatever <see cref="Source"/>'s level.</summary>
        public static event EventHandler<LogEventArgs> Message;

        private static readonly LogCallback Callback = OnMessage;  // alive for the C library
        private static readonly object Gate = new object();
        private static bool installed;

        /// <summary>
        /// Installs the callback (once; later calls do nothing). <see cref="Model.Load"/> calls it,
        /// so only messages of code running before the first load need it called explicitly.
        /// </summary>
        public static void Install()
        {
            lock (Gate)
            {
                if (installed) return;
                M4cxrException.Check(Api.m4cxr_set_log_callback(Callback, IntPtr.Zero, m4cxr_log_level.M4CXR_LOG_DEBUG));
                installed = true;
                AppDomain.CurrentDomain.ProcessExit += (sender, e) => Uninstall();
                AppDomain.CurrentDomain.DomainUnload += (sender, e) => Uninstall();
            }
        }

        // No call of the callback runs or starts once this returns.
        private static void Uninstall()
        {
            lock (Gate)
            {
                if (!installed) return;
                installed = false;
                Api.m4cxr_set_log_callback(null, IntPtr.Zero, m4cxr_log_level.M4CXR_LOG_DEBUG);
            }
        }

        private static readonly TraceEventType[] EventTypes =
            { TraceEventType.Verbose, TraceEventType.Information, TraceEventType.Warning, TraceEventType.Error };

        private static void OnMessage(IntPtr userData, m4cxr_log_level level, IntPtr message)
        {
            try
            {
                int l = Math.Max(0, Math.Min(3, (int)level));
                EventHandler<LogEventArgs> handlers = Message;
                bool trace = Source.Switch.ShouldTrace(EventTypes[l]);
                if (handlers == null && !trace) return;  // nobody listens: not even decoded
                string text = Utf8.Decode(message);
                if (trace) Source.TraceEvent(EventTypes[l], 0, text);
                if (handlers != null) handlers(null, new LogEventArgs((LogLevel)l, text));
            }
            catch (Exception)
            {
                // never into native code
            }
        }
    }
}
