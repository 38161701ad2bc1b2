using System;
using System.Collections.Generic;
using System.Threading;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// A conversation with its KV cache and a bounded cache of image embeddings
    /// (m4cxr_session). One method per task of the paper, each building the exact upstream
    /// prompt.
    /// </summary>
    /// <remarks>
    /// The task methods are generated at build time from the library's task table
    /// (src/tasks/task_table.json, <see cref="M4cxr.Model.TaskTableJson"/>): parameters in
    /// table order, optional ones with the table's defaults, then the per-call
    /// <see cref="GenerationOptions"/> and a CancellationToken. Each task comes in two forms:
    /// <c>Xxx(...)</c> runs it and returns the <see cref="Result"/>; <c>XxxStream(...)</c>
    /// returns a <see cref="TaskStream"/> that yields the text as it is generated.
    /// Conversations (patient safety): every task that brings images starts a NEW
    /// conversation (nothing of earlier tasks is in its prompt) unless
    /// <see cref="GenerationOptions.ContinueConversation"/> is set; Chat always continues.
    /// A CancellationToken stops the generation; the result then has Stats.Cancelled set and
    /// keeps what was produced. Options null = the C defaults (greedy, 500 new tokens per
    /// turn, a new conversation). Boxes are in original image pixels.
    /// Threading: one thread at a time (and one unfinished task at a time): a concurrent
    /// call throws <see cref="M4cxrException"/> with Status.Busy. Many sessions of one model
    /// run in parallel. <see cref="Cancel"/> and <see cref="Dispose"/> may be called from
    /// any thread, also while a task runs (the task stops).
    /// Ownership: dispose it; it keeps its model's weights until then.
    /// Errors: <see cref="M4cxrException"/> with the C message (bad arguments, limits, ...);
    /// ArgumentNullException for null required arguments.
    /// </remarks>
    public sealed partial class Session : IDisposable
    {
        internal readonly SessionHandle Handle;

        /// <summary>The model of this session.</summary>
        public Model Model { get; private set; }

        internal Session(Model model, SessionHandle handle)
        {
            Model = model;
            Handle = handle;
        }

        // ------------------------------------------------------------ one-image forms of the generated tasks
        /// <summary>Chain-of-thought report of one image: findings (turn 0), then the report (turn 1).
        /// Starts a new conversation unless options.ContinueConversation is set.</summary>
        /// <param name="image">The image.</param>
        /// <param name="options">Per-call options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public Result Report(Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(ReportStream(image, options, cancellation)); }
        /// <summary>Streaming <see cref="Report(Image, GenerationOptions, CancellationToken)"/>.</summary>
        /// <param name="image">The image.</param>
        /// <param name="options">Per-call options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public TaskStream ReportStream(Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return ReportStream(new[] { NotNull(image, "image") }, options, cancellation); }

        /// <summary>A free user turn about one image; it continues the session's conversation
        /// (on an empty conversation: with the system message).</summary>
        /// <param name="text">The user's message.</param>
        /// <param name="image">The image shown with this turn.</param>
        /// <param name="options">Per-call options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public Result Chat(string text, Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(ChatStream(text, image, options, cancellation)); }
        /// <summary>Streaming <see cref="Chat(string, Image, GenerationOptions, CancellationToken)"/>.</summary>
        /// <param name="text">The user's message.</param>
        /// <param name="image">The image shown with this turn.</param>
        /// <param name="options">Per-call options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public TaskStream ChatStream(string text, Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return ChatStream(text, new[] { NotNull(image, "image") }, options, cancellation); }

        // ------------------------------------------------------------ any task by name
        /// <summary>
        /// Starts any task of the library's table by name (m4cxr_task_start), also one added to
        /// the table after this binding was built. The values are given by argument name:
        /// <see cref="Image"/>, a list of images, string, list of strings, double[] (boxes, 4
        /// values per box), bool (flags) or a choice as string.
        /// </summary>
        /// <param name="task">Task name as in the table ("report", ...).</param>
        /// <param name="arguments">Argument name (as in the table) to value; null = none.</param>
        /// <param name="options">Per-call options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public TaskStream StartTask(string task, IDictionary<string, object> arguments, GenerationOptions options = null,
                                    CancellationToken cancellation = default(CancellationToken))
        {
            NotNull(task, "task");
            using (var args = new TaskArgs())
            {
                if (arguments != null)
                    foreach (KeyValuePair<string, object> a in arguments) args.Any(a.Key, a.Value);
                return Start(task, args, options, cancellation);
            }
        }

        // ------------------------------------------------------------ session control
        /// <summary>
        /// Appends a complete earlier turn without running the model (m4cxr_session_append_turn):
        /// restores a stored conversation or replays a dialogue with fixed earlier answers.
        /// The next task continues after it (Chat, or a typed task with
        /// options.ContinueConversation).
        /// </summary>
        /// <param name="userText">The user message as upstream writes it, without the system
        /// message, with one "&lt;image&gt;" marker per image (e.g. "radiology image: &lt;image&gt; Which ...").</param>
        /// <param name="answer">The assistant's reply.</param>
        /// <param name="images">The turn's images, in marker order (null: none).</param>
        /// <exception cref="M4cxrException">InvalidArgument (markers and images disagree, a marker
        /// in the answer, ...), Limit (over the prompt limit), Busy.</exception>
        public void AppendTurn(string userText, string answer, IList<Image> images = null)
        {
            NotNull(userText, "userText");
            NotNull(answer, "answer");
            var handles = new ImageHandle[images == null ? 0 : images.Count];
            for (int i = 0; i < handles.Length; ++i) handles[i] = NotNull(images[i], "images[" + i + "]").Handle;
            M4cxrException.Check(Api.m4cxr_session_append_turn(Handle, userText, answer, handles));
        }

        /// <summary>Forgets the conversation and drops the cached image embeddings (nothing of
        /// earlier patients stays in the session).</summary>
        public void Reset() { M4cxrException.Check(Api.m4cxr_session_reset(Handle)); }

        /// <summary>Drops the cached image embeddings only; the conversation goes on.</summary>
        public void ClearImageCache() { M4cxrException.Check(Api.m4cxr_session_clear_image_cache(Handle)); }

        /// <summary>Asks the running task of this session to stop; any thread; returns at once.</summary>
        public void Cancel() { M4cxrException.Check(Api.m4cxr_session_cancel(Handle)); }

        /// <summary>Frees the session; any thread. A task of it that is still running stops,
        /// and its later calls fail with Status.InvalidHandle.</summary>
        public void Dispose() { Handle.Dispose(); }

        // ------------------------------------------------------------ helpers (also used by Session.Tasks.cs)
        private TaskStream Start(string task, TaskArgs args, GenerationOptions options, CancellationToken cancellation)
        {
            IntPtr raw;
            m4cxr_status st;
            using (m4cxr_generation_options o = options == null ? null : options.ToNative())
                st = Api.m4cxr_task_start(Handle, task, args.Handle, o, out raw);
            M4cxrException.Check(st);
            return new TaskStream(new TaskHandle(raw), cancellation);
        }

        private static Result Run(TaskStream stream)
        {
            using (stream) return stream.Result;
        }

        private static T NotNull<T>(T value, string name) where T : class
        {
            if (value == null) throw new ArgumentNullException(name);
            return value;
        }
    }
}
