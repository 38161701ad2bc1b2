using System;
using System.Collections.Generic;
using System.Threading;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// A conversation with its KV cache (m4cxr_session). One method per task of the paper,
    /// each building the exact upstream prompt; later calls continue the same conversation
    /// (e.g. <see cref="GroundPhrase"/> after <see cref="Report(Image, GenerationOptions, CancellationToken)"/>)
    /// until <see cref="Reset"/>.
    /// </summary>
    /// <remarks>
    /// Each task comes in two forms: <c>Xxx(...)</c> runs it and returns the
    /// <see cref="Result"/>; <c>XxxStream(...)</c> returns a <see cref="TaskStream"/> that
    /// yields the text as it is generated. A CancellationToken stops the generation; the
    /// result then has Stats.Cancelled set and keeps what was produced. Options null = the C
    /// defaults (greedy, 500 new tokens per turn). Boxes are in original image pixels.
    /// Threading: one thread at a time (and one unfinished task at a time): a concurrent
    /// call throws <see cref="M4cxrException"/> with Status.Busy. Many sessions of one model
    /// run in parallel. <see cref="Cancel"/> may be called from any thread.
    /// Ownership: dispose it; it keeps its model alive until then.
    /// Errors: <see cref="M4cxrException"/> with the C message (bad arguments, limits, ...);
    /// ArgumentNullException for null arguments.
    /// </remarks>
    public sealed class Session : IDisposable
    {
        private delegate m4cxr_status Starter(m4cxr_generation_options options, out IntPtr task);

        internal readonly SessionHandle Handle;

        /// <summary>The model of this session.</summary>
        public Model Model { get; private set; }

        internal Session(Model model, SessionHandle handle)
        {
            Model = model;
            Handle = handle;
        }

        // ------------------------------------------------------------ reports
        /// <summary>Chain-of-thought report of one image: findings (turn 0), then the report (turn 1).</summary>
        public Result Report(Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(ReportStream(image, options, cancellation)); }
        /// <summary>Streaming <see cref="Report(Image, GenerationOptions, CancellationToken)"/>.</summary>
        public TaskStream ReportStream(Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return ReportStream(new[] { NotNull(image, "image") }, options, cancellation); }

        /// <summary>Chain-of-thought report of up to 5 views of one study.</summary>
        public Result Report(IList<Image> views, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(ReportStream(views, options, cancellation)); }
        /// <summary>Streaming <see cref="Report(IList{Image}, GenerationOptions, CancellationToken)"/>.</summary>
        public TaskStream ReportStream(IList<Image> views, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle[] v = Handles(views, "views");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_report(Handle, v, o, out t), options, cancellation);
        }

        /// <summary>Follow-up report: prior images and report, then the current images.</summary>
        public Result ReportFollowup(IList<Image> prior, string priorReport, IList<Image> current, GenerationOptions options = null,
                                     CancellationToken cancellation = default(CancellationToken))
        { return Run(ReportFollowupStream(prior, priorReport, current, options, cancellation)); }
        /// <summary>Streaming <see cref="ReportFollowup"/>.</summary>
        public TaskStream ReportFollowupStream(IList<Image> prior, string priorReport, IList<Image> current, GenerationOptions options = null,
                                               CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle[] p = Handles(prior, "prior"), c = Handles(current, "current");
            NotNull(priorReport, "priorReport");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_report_followup(Handle, p, priorReport, c, o, out t),
                         options, cancellation);
        }

        // ------------------------------------------------------------ classification and grounding
        /// <summary>Disease classification over <paramref name="labels"/> (null = the 13 CheXbert findings); see Result.Findings.</summary>
        public Result Classify(Image image, IList<string> labels = null, GenerationOptions options = null,
                               CancellationToken cancellation = default(CancellationToken))
        { return Run(ClassifyStream(image, labels, options, cancellation)); }
        /// <summary>Streaming <see cref="Classify"/>.</summary>
        public TaskStream ClassifyStream(Image image, IList<string> labels = null, GenerationOptions options = null,
                                         CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            string[] l = labels == null ? null : Strings(labels, "labels");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_classify(Handle, im, l, o, out t), options, cancellation);
        }

        /// <summary>Is <paramref name="finding"/> present, and where (Result.Boxes)?</summary>
        public Result GroundFinding(Image image, string finding, GenerationOptions options = null,
                                    CancellationToken cancellation = default(CancellationToken))
        { return Run(GroundFindingStream(image, finding, options, cancellation)); }
        /// <summary>Streaming <see cref="GroundFinding"/>.</summary>
        public TaskStream GroundFindingStream(Image image, string finding, GenerationOptions options = null,
                                              CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(finding, "finding");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_ground_finding(Handle, im, finding, o, out t), options, cancellation);
        }

        /// <summary>Which of <paramref name="findings"/> are present, with their boxes.</summary>
        public Result GroundFindings(Image image, IList<string> findings, GenerationOptions options = null,
                                     CancellationToken cancellation = default(CancellationToken))
        { return Run(GroundFindingsStream(image, findings, options, cancellation)); }
        /// <summary>Streaming <see cref="GroundFindings"/>.</summary>
        public TaskStream GroundFindingsStream(Image image, IList<string> findings, GenerationOptions options = null,
                                               CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            string[] f = Strings(findings, "findings");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_ground_findings(Handle, im, f, o, out t), options, cancellation);
        }

        /// <summary>Boxes of abnormal regions.</summary>
        public Result DetectAbnormalities(Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(DetectAbnormalitiesStream(image, options, cancellation)); }
        /// <summary>Streaming <see cref="DetectAbnormalities"/>.</summary>
        public TaskStream DetectAbnormalitiesStream(Image image, GenerationOptions options = null,
                                                    CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_detect_abnormalities(Handle, im, o, out t), options, cancellation);
        }

        /// <summary>Box(es) of an organ.</summary>
        public Result GroundOrgan(Image image, string organ, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(GroundOrganStream(image, organ, options, cancellation)); }
        /// <summary>Streaming <see cref="GroundOrgan"/>.</summary>
        public TaskStream GroundOrganStream(Image image, string organ, GenerationOptions options = null,
                                            CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(organ, "organ");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_ground_organ(Handle, im, organ, o, out t), options, cancellation);
        }

        /// <summary>Box(es) of the region a report phrase describes.</summary>
        public Result GroundPhrase(Image image, string phrase, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(GroundPhraseStream(image, phrase, options, cancellation)); }
        /// <summary>Streaming <see cref="GroundPhrase"/>.</summary>
        public TaskStream GroundPhraseStream(Image image, string phrase, GenerationOptions options = null,
                                             CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(phrase, "phrase");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_ground_phrase(Handle, im, phrase, o, out t), options, cancellation);
        }

        /// <summary>Box of an anatomical region.</summary>
        public Result GroundRegion(Image image, string region, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(GroundRegionStream(image, region, options, cancellation)); }
        /// <summary>Streaming <see cref="GroundRegion"/>.</summary>
        public TaskStream GroundRegionStream(Image image, string region, GenerationOptions options = null,
                                             CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(region, "region");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_ground_region(Handle, im, region, o, out t), options, cancellation);
        }

        /// <summary>Names what the box(es) show: a finding, organ, region or report phrase.</summary>
        /// <param name="image">The image.</param>
        /// <param name="what">The question.</param>
        /// <param name="boxes">x1, y1, x2, y2 in original pixels for each box (4 values per box).</param>
        /// <param name="options">Generation options or null.</param>
        /// <param name="cancellation">Stops the generation.</param>
        public Result IdentifyRegion(Image image, BoxQuestion what, double[] boxes, GenerationOptions options = null,
                                     CancellationToken cancellation = default(CancellationToken))
        { return Run(IdentifyRegionStream(image, what, boxes, options, cancellation)); }
        /// <summary>Streaming <see cref="IdentifyRegion"/>.</summary>
        public TaskStream IdentifyRegionStream(Image image, BoxQuestion what, double[] boxes, GenerationOptions options = null,
                                               CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(boxes, "boxes");
            if (boxes.Length % 4 != 0) throw new ArgumentException("boxes holds 4 values (x1, y1, x2, y2) per box", "boxes");
            double[] b = (double[])boxes.Clone();
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_identify_region(Handle, im, (m4cxr_box_question)(int)what, b, o, out t),
                         options, cancellation);
        }

        // ------------------------------------------------------------ questions and chat
        /// <summary>Visual question answering.</summary>
        public Result Vqa(Image image, string question, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(VqaStream(image, question, options, cancellation)); }
        /// <summary>Streaming <see cref="Vqa"/>.</summary>
        public TaskStream VqaStream(Image image, string question, GenerationOptions options = null,
                                    CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle im = NotNull(image, "image").Handle;
            NotNull(question, "question");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_vqa(Handle, im, question, o, out t), options, cancellation);
        }

        /// <summary>Difference VQA between a reference (earlier) and a main image.</summary>
        public Result DifferenceVqa(Image reference, Image main, string question, GenerationOptions options = null,
                                    CancellationToken cancellation = default(CancellationToken))
        { return Run(DifferenceVqaStream(reference, main, question, options, cancellation)); }
        /// <summary>Streaming <see cref="DifferenceVqa"/>.</summary>
        public TaskStream DifferenceVqaStream(Image reference, Image main, string question, GenerationOptions options = null,
                                              CancellationToken cancellation = default(CancellationToken))
        {
            ImageHandle r = NotNull(reference, "reference").Handle, m = NotNull(main, "main").Handle;
            NotNull(question, "question");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_difference_vqa(Handle, r, m, question, o, out t),
                         options, cancellation);
        }

        /// <summary>A free user turn about one image (on an empty conversation: with the system message).</summary>
        public Result Chat(string text, Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return Run(ChatStream(text, image, options, cancellation)); }
        /// <summary>Streaming <see cref="Chat(string, Image, GenerationOptions, CancellationToken)"/>.</summary>
        public TaskStream ChatStream(string text, Image image, GenerationOptions options = null, CancellationToken cancellation = default(CancellationToken))
        { return ChatStream(text, new[] { NotNull(image, "image") }, options, cancellation); }

        /// <summary>A free user turn; images (may be none) are attached on an empty conversation,
        /// afterwards it continues with the bare text.</summary>
        public Result Chat(string text, IList<Image> images = null, GenerationOptions options = null,
                           CancellationToken cancellation = default(CancellationToken))
        { return Run(ChatStream(text, images, options, cancellation)); }
        /// <summary>Streaming <see cref="Chat(string, IList{Image}, GenerationOptions, CancellationToken)"/>.</summary>
        public TaskStream ChatStream(string text, IList<Image> images = null, GenerationOptions options = null,
                                     CancellationToken cancellation = default(CancellationToken))
        {
            NotNull(text, "text");
            ImageHandle[] v = images == null ? new ImageHandle[0] : Handles(images, "images");
            return Start((m4cxr_generation_options o, out IntPtr t) => Api.m4cxr_chat(Handle, text, v, o, out t), options, cancellation);
        }

        // ------------------------------------------------------------ session control
        /// <summary>Forgets the conversation (encoded images stay cached).</summary>
        public void Reset() { M4cxrException.Check(Api.m4cxr_session_reset(Handle)); }

        /// <summary>Asks the running task of this session to stop; any thread; returns at once.</summary>
        public void Cancel() { M4cxrException.Check(Api.m4cxr_session_cancel(Handle)); }

        /// <summary>Frees the session (after its unfinished task, if any, is disposed).</summary>
        public void Dispose() { Handle.Dispose(); }

        // ------------------------------------------------------------ helpers
        private TaskStream Start(Starter start, GenerationOptions options, CancellationToken cancellation)
        {
            IntPtr raw;
            m4cxr_status st;
            m4cxr_generation_options o = options == null ? null : options.ToNative();
            try
            {
                st = start(o, out raw);
            }
            finally
            {
                if (o != null) o.Dispose();
            }
            M4cxrException.Check(st);
            return new TaskStream(new TaskHandle(raw, Handle), cancellation);
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

        private static ImageHandle[] Handles(IList<Image> images, string name)
        {
            NotNull(images, name);
            var h = new ImageHandle[images.Count];
            for (int i = 0; i < h.Length; ++i) h[i] = NotNull(images[i], name + "[" + i + "]").Handle;
            return h;
        }

        private static string[] Strings(IList<string> strings, string name)
        {
            NotNull(strings, name);
            var s = new string[strings.Count];
            for (int i = 0; i < s.Length; ++i)
            {
                s[i] = NotNull(strings[i], name + "[" + i + "]");
                if (s[i].IndexOf('\0') >= 0) throw new ArgumentException("contains a NUL character", name + "[" + i + "]");
            }
            return s;
        }
    }
}
