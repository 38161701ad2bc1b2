using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>A box found by a grounding task (m4cxr_box).</summary>
    public sealed class Box
    {
        /// <summary>Finding or organ name, or "".</summary>
        public string Label { get; private set; }
        /// <summary>x1, y1, x2, y2 in the model's 0-100 frame.</summary>
        public IReadOnlyList<int> Model { get; private set; }
        /// <summary>The same box in original image pixels.</summary>
        public IReadOnlyList<double> Pixels { get; private set; }
        /// <summary>Index into the task's images the box refers to.</summary>
        public int ImageIndex { get; private set; }
        /// <summary>
        /// The probability, in [0, 1], of the generated tokens that wrote this box's text
        /// "[x1,y1,x2,y2]" (m4cxr_box.probability; README "Confidence").
        /// </summary>
        public double Probability { get; private set; }

        internal Box(string label, int[] model, double[] pixels, int imageIndex, double probability)
        {
            Label = label;
            Model = Array.AsReadOnly(model);
            Pixels = Array.AsReadOnly(pixels);
            ImageIndex = imageIndex;
            Probability = probability;
        }

        /// <inheritdoc/>
        public override string ToString()
        {
            return string.Format("{0} [{1}] = ({2}) px", Label, string.Join(",", Model), string.Join(", ", Pixels));
        }
    }

    /// <summary>Token counts and timings of a task (m4cxr_stats).</summary>
    public sealed class Stats
    {
        /// <summary>Ids of the last turn's prompt.</summary>
        public long PromptTokens { get; internal set; }
        /// <summary>Ids actually run over all turns (the rest came from the cache).</summary>
        public long PrefilledTokens { get; internal set; }
        /// <summary>Generated tokens over all turns.</summary>
        public long GeneratedTokens { get; internal set; }
        /// <summary>Image encoding time.</summary>
        public double ImageEncodeMs { get; internal set; }
        /// <summary>Prefill time.</summary>
        public double PrefillMs { get; internal set; }
        /// <summary>Decoding time.</summary>
        public double DecodeMs { get; internal set; }
        /// <summary>The last turn ended on EOS.</summary>
        public bool StoppedByEos { get; internal set; }
        /// <summary>The task was stopped by a cancel (the result keeps what was produced).</summary>
        public bool Cancelled { get; internal set; }
    }

    /// <summary>
    /// A generated token with its log-probability (m4cxr_token_info), recorded when a task
    /// runs with <see cref="GenerationOptions.Logprobs"/>: the natural log of its probability
    /// under the model's distribution at that step (log_softmax, in fp32, of the raw logits,
    /// before temperature, top-k and top-p). <see cref="Text"/> is the token's SentencePiece
    /// piece ("\u2581" marks a space, byte tokens read "&lt;0x0A&gt;"), not decoded text.
    /// </summary>
    public sealed class Token
    {
        /// <summary>Vocabulary id.</summary>
        public int Id { get; private set; }
        /// <summary>The token's SentencePiece piece.</summary>
        public string Text { get; private set; }
        /// <summary>Natural log of its probability (&lt;= 0).</summary>
        public double Logprob { get; private set; }
        /// <summary>The k most likely tokens of that step, most likely first (empty for an alternative).</summary>
        public IReadOnlyList<Token> Top { get; private set; }

        internal Token(int id, string text, double logprob, IList<Token> top)
        {
            Id = id;
            Text = text;
            Logprob = logprob;
            Top = new ReadOnlyCollection<Token>(top);
        }

        /// <inheritdoc/>
        public override string ToString() { return "Token[" + Id + " " + Text + " " + Logprob + "]"; }
    }

    /// <summary>The outcome of a task (copied out of m4cxr_result; immutable, any thread).</summary>
    public sealed class Result
    {
        /// <summary>The report for Report*, otherwise the (only/last) turn's text.</summary>
        public string Text { get; private set; }
        /// <summary>Text of each user turn of the task (a report has two: findings, report).</summary>
        public IReadOnlyList<string> Turns { get; private set; }
        /// <summary>Findings (report turn 1, classification, named boxes) as listed in the question.</summary>
        public IReadOnlyList<string> Findings { get; private set; }
        /// <summary>Boxes of grounding tasks.</summary>
        public IReadOnlyList<Box> Boxes { get; private set; }
        /// <summary>Token counts and timings.</summary>
        public Stats Stats { get; private set; }
        /// <summary>Everything above plus a replay record (checkpoint, image hashes, options, prompt ids) as JSON.</summary>
        public string Json { get; private set; }
        /// <summary>
        /// Per turn, the generated tokens with their log-probabilities and alternatives when the
        /// task ran with <see cref="GenerationOptions.Logprobs"/>; otherwise every list is empty.
        /// </summary>
        public IReadOnlyList<IReadOnlyList<Token>> Tokens { get; private set; }
        /// <summary>
        /// {label: score in [0, 1]} for every candidate of a report's findings turn or of a
        /// classification (README "Confidence"): for a label among <see cref="Findings"/>, the
        /// probability of the tokens that wrote it; for another, the highest probability the
        /// model gave to starting it where a label could start. Empty for other tasks.
        /// </summary>
        public IReadOnlyDictionary<string, double> LabelScores { get; private set; }
        /// <summary>The labels of <see cref="LabelScores"/> in the question's order.</summary>
        public IReadOnlyList<string> LabelOrder { get; private set; }

        internal Result(ResultHandle r, bool cancelled)
        {
            Text = Api.m4cxr_result_text(r);
            var turns = new List<string>();
            for (ulong i = 0, n = Api.m4cxr_result_turn_count(r); i < n; ++i) turns.Add(Api.m4cxr_result_turn_text(r, i));
            Turns = new ReadOnlyCollection<string>(turns);
            var findings = new List<string>();
            for (ulong i = 0, n = Api.m4cxr_result_finding_count(r); i < n; ++i) findings.Add(Api.m4cxr_result_finding(r, i));
            Findings = new ReadOnlyCollection<string>(findings);
            var boxes = new List<Box>();
            for (ulong i = 0, n = Api.m4cxr_result_box_count(r); i < n; ++i)
            {
                using (var b = new m4cxr_box())
                {
                    M4cxrException.Check(Api.m4cxr_result_get_box(r, i, b));
                    var model = new int[4];
                    var pixels = new double[4];
                    b.copy_model(model);
                    b.copy_pixels(pixels);
                    boxes.Add(new Box(b.label, model, pixels, b.image_index, b.probability));
                }
            }
            Boxes = new ReadOnlyCollection<Box>(boxes);
            using (var s = new m4cxr_stats())
            {
                M4cxrException.Check(Api.m4cxr_result_get_stats(r, s));
                Stats = new Stats
                {
                    PromptTokens = s.prompt_tokens,
                    PrefilledTokens = s.prefilled_tokens,
                    GeneratedTokens = s.generated_tokens,
                    ImageEncodeMs = s.image_encode_ms,
                    PrefillMs = s.prefill_ms,
                    DecodeMs = s.decode_ms,
                    StoppedByEos = s.stopped_by_eos != 0,
                    Cancelled = s.cancelled != 0 || cancelled,
                };
            }
            var tokens = new List<IReadOnlyList<Token>>();
            using (var t = new m4cxr_token_info())
            using (var a = new m4cxr_token_info())
            {
                for (ulong turn = 0, nt = Api.m4cxr_result_turn_count(r); turn < nt; ++turn)
                {
                    var list = new List<Token>();
                    for (ulong i = 0, n = Api.m4cxr_result_token_count(r, turn); i < n; ++i)
                    {
                        M4cxrException.Check(Api.m4cxr_result_get_token(r, turn, i, t));
                        var top = new List<Token>();
                        for (ulong j = 0; j < t.top_count; ++j)
                        {
                            M4cxrException.Check(Api.m4cxr_result_get_token_alternative(r, turn, i, j, a));
                            top.Add(new Token(a.id, a.text, a.logprob, new List<Token>()));
                        }
                        list.Add(new Token(t.id, t.text, t.logprob, top));
                    }
                    tokens.Add(new ReadOnlyCollection<Token>(list));
                }
            }
            Tokens = new ReadOnlyCollection<IReadOnlyList<Token>>(tokens);
            var scores = new Dictionary<string, double>();
            var order = new List<string>();
            using (var ls = new m4cxr_label_score())
            {
                for (ulong i = 0, n = Api.m4cxr_result_label_score_count(r); i < n; ++i)
                {
                    M4cxrException.Check(Api.m4cxr_result_get_label_score(r, i, ls));
                    if (!scores.ContainsKey(ls.label)) order.Add(ls.label);
                    scores[ls.label] = ls.score;
                }
            }
            LabelScores = new ReadOnlyDictionary<string, double>(scores);
            LabelOrder = new ReadOnlyCollection<string>(order);
            Json = Api.m4cxr_result_json(r);
            // The structured documents now: the native result is freed after this.
            fhir = Document(r, 0);
            dicomSr = Document(r, 1);
        }

        private readonly byte[] fhir;     // m4cxr_result_to_fhir, UTF-8
        private readonly byte[] dicomSr;  // m4cxr_result_to_dicom_sr

        private static byte[] Document(ResultHandle r, int dicomSr)
        {
            Span span;
            m4cxr_status st = Api.m4cxr_cs_result_document(r, dicomSr, null, out span);
            try
            {
                M4cxrException.Check(st);
                var bytes = new byte[span.Count];
                if (span.Count > 0) System.Runtime.InteropServices.Marshal.Copy(span.Data, bytes, 0, bytes.Length);
                return bytes;
            }
            finally
            {
                Api.m4cxr_free(span.Data);
            }
        }

        /// <summary>
        /// The result as a FHIR R4 Bundle (JSON, m4cxr_result_to_fhir): a preliminary radiology
        /// DiagnosticReport (the text as conclusion and presented form; the DICOM study and
        /// patient by their identifiers when the images came from DICOM), one Observation per
        /// finding (present/absent, label score, boxes) and a Device naming the engine and
        /// model, marked AI-generated (security label AIAST). Made when the result was
        /// collected: the same text on every call.
        /// </summary>
        public string ToFhir() { return System.Text.Encoding.UTF8.GetString(fhir); }

        /// <summary>
        /// The result as a DICOM Comprehensive SR Part-10 file (m4cxr_result_to_dicom_sr): the
        /// source study and patient, the source instances as evidence, the text, one item per
        /// finding and the boxes as regions on the source image. The same bytes (and SOP
        /// Instance UID) on every call; a new array each time.
        /// </summary>
        public byte[] ToDicomSr() { return (byte[])dicomSr.Clone(); }

        /// <inheritdoc/>
        public override string ToString() { return Text; }
    }
}
