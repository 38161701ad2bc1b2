using M4cxr.Native;

namespace M4cxr
{
    /// <summary>Weight and compute type of a model (m4cxr_dtype).</summary>
    public enum DType
    {
        /// <summary>bfloat16 (the default, as upstream).</summary>
        BFloat16 = 0,
        /// <summary>float32.</summary>
        Float32 = 1,
        /// <summary>The decoder's projections and LM head as weight-only int8 (quantized at load), compute in bfloat16.</summary>
        Int8 = 2,
    }

    /// <summary>Layout of raw pixels given to <see cref="Model.Image(byte[], int, int, PixelFormat, int)"/>.</summary>
    public enum PixelFormat
    {
        /// <summary>One byte per pixel.</summary>
        Gray8 = 0,
        /// <summary>One native-endian uint16 per pixel (mapped to 8 bits as round(v/257)).</summary>
        Gray16 = 1,
        /// <summary>Three bytes per pixel.</summary>
        Rgb8 = 2,
        /// <summary>Three native-endian uint16 per pixel.</summary>
        Rgb16 = 3,
    }

    /// <summary>What <see cref="Session.IdentifyRegion"/> asks about its box(es).</summary>
    public enum BoxQuestion
    {
        /// <summary>Grounded finding: one box.</summary>
        Finding = 0,
        /// <summary>Grounded organ: one or more boxes.</summary>
        Organ = 1,
        /// <summary>Grounded anatomical region: one box.</summary>
        Region = 2,
        /// <summary>Grounded phrase generation: one or more boxes.</summary>
        Phrase = 3,
    }

    /// <summary>Options of <see cref="Model.Load"/> (m4cxr_model_options). Defaults are the C defaults.</summary>
    public sealed class ModelOptions
    {
        /// <summary>Weight and compute type; default bfloat16.</summary>
        public DType DType { get; set; }
        /// <summary>"cpu" (default), "cuda", "cuda:1" with a CUDA libtorch.</summary>
        public string Device { get; set; }
        /// <summary>Intra-op threads; 0 = all cores (a process-wide setting).</summary>
        public int Threads { get; set; }
        /// <summary>PEFT adapter folder or null.</summary>
        public string AdapterDir { get; set; }
        /// <summary>Images with more pixels are refused (default 16384*16384).</summary>
        public long MaxImagePixels { get; set; }
        /// <summary>Per session: image embeddings kept between tasks, least recently used
        /// dropped first (default 8; 0 = none).</summary>
        public int MaxCachedImages { get; set; }

        /// <summary>The C defaults (m4cxr_model_options_default).</summary>
        public ModelOptions()
        {
            using (var o = new m4cxr_model_options())
            {
                DType = (DType)(int)o.dtype;
                Device = o.device;
                Threads = o.threads;
                AdapterDir = o.adapter_dir;
                MaxImagePixels = o.max_image_pixels;
                MaxCachedImages = o.max_cached_images;
            }
        }

        internal m4cxr_model_options ToNative()
        {
            var o = new m4cxr_model_options();
            o.dtype = (m4cxr_dtype)(int)DType;
            o.device = Device;
            o.threads = Threads;
            o.adapter_dir = AdapterDir;
            o.max_image_pixels = MaxImagePixels;
            o.max_cached_images = MaxCachedImages;
            return o;
        }
    }

    /// <summary>
    /// Options of one task call (m4cxr_generation_options), passed to every task method.
    /// Defaults are the C defaults (greedy, 500 new tokens per turn, a new conversation).
    /// </summary>
    public sealed class GenerationOptions
    {
        /// <summary>New tokens per turn; default 500 (upstream).</summary>
        public int MaxNewTokens { get; set; }
        /// <summary>Sample instead of greedy decoding (default false, as the paper).</summary>
        public bool DoSample { get; set; }
        /// <summary>Sampling only; default 1.</summary>
        public float Temperature { get; set; }
        /// <summary>Sampling only; 0 = off.</summary>
        public int TopK { get; set; }
        /// <summary>Sampling only; 1 = off.</summary>
        public float TopP { get; set; }
        /// <summary>Sampling seed.</summary>
        public ulong Seed { get; set; }
        /// <summary>
        /// Typed tasks: false (default) = the task starts a NEW conversation (nothing of earlier
        /// tasks on the session is in its prompt; patient safety); true = it continues the
        /// session's conversation (a follow-up question, phrase grounding after a report).
        /// Chat always continues.
        /// </summary>
        public bool ContinueConversation { get; set; }
        /// <summary>
        /// Token probabilities (opt-in): null (default) = off; k (0..100) = the result records,
        /// for every generated token, its log-probability and its k most likely alternatives
        /// (<see cref="Result.Tokens"/>). The generated text is the same either way. The
        /// log-probability is log_softmax, in fp32, of the model's raw logits at that step
        /// (before temperature, top-k and top-p).
        /// </summary>
        public int? Logprobs { get; set; }
        /// <summary>
        /// Constrained decoding: false (default) = off; true = answers with a fixed shape (the
        /// findings of a report, classification, every grounding and detection answer, naming
        /// a finding, organ or region) can only come out in upstream's format, so they always
        /// parse. Free-text answers are unaffected.
        /// </summary>
        public bool Constrained { get; set; }

        /// <summary>The C defaults (m4cxr_generation_options_default).</summary>
        public GenerationOptions()
        {
            using (var o = new m4cxr_generation_options())
            {
                MaxNewTokens = o.max_new_tokens;
                DoSample = o.do_sample != 0;
                Temperature = o.temperature;
                TopK = o.top_k;
                TopP = o.top_p;
                Seed = o.seed;
                ContinueConversation = o.continue_conversation != 0;
                Constrained = o.constrained != 0;
            }
        }

        /// <summary>Greedy decoding with at most <paramref name="maxNewTokens"/> tokens per turn.</summary>
        public static GenerationOptions Greedy(int maxNewTokens)
        {
            return new GenerationOptions { MaxNewTokens = maxNewTokens };
        }

        /// <summary>A copy with <see cref="ContinueConversation"/> set.</summary>
        public GenerationOptions Continuing()
        {
            var o = (GenerationOptions)MemberwiseClone();
            o.ContinueConversation = true;
            return o;
        }

        internal m4cxr_generation_options ToNative()
        {
            var o = new m4cxr_generation_options();
            o.max_new_tokens = MaxNewTokens;
            o.do_sample = DoSample ? 1 : 0;
            o.temperature = Temperature;
            o.top_k = TopK;
            o.top_p = TopP;
            o.seed = Seed;
            o.continue_conversation = ContinueConversation ? 1 : 0;
            o.constrained = Constrained ? 1 : 0;
            if (Logprobs.HasValue)
            {
                o.logprobs = 1;
                o.top_logprobs = Logprobs.Value;
            }
            return o;
        }
    }

    /// <summary>Architecture and loading facts of a model (m4cxr_model_info).</summary>
    public sealed class ModelInfo
    {
        /// <summary>Visual tokens one image becomes.</summary>
        public int VisualTokensPerImage { get; internal set; }
        /// <summary>Encoder input side in pixels (518 for the real model).</summary>
        public int ImageSize { get; internal set; }
        /// <summary>Vision encoder layers.</summary>
        public int VisionLayers { get; internal set; }
        /// <summary>Vision encoder width.</summary>
        public int VisionHidden { get; internal set; }
        /// <summary>Language model layers.</summary>
        public int TextLayers { get; internal set; }
        /// <summary>Language model width.</summary>
        public int TextHidden { get; internal set; }
        /// <summary>Tokenizer vocabulary size.</summary>
        public int VocabSize { get; internal set; }
        /// <summary>Weight and compute type.</summary>
        public DType DType { get; internal set; }
        /// <summary>Device the model runs on ("cpu", ...).</summary>
        public string Device { get; internal set; }
        /// <summary>Bytes of weights.</summary>
        public ulong WeightBytes { get; internal set; }
        /// <summary>LoRA pairs merged at load time.</summary>
        public int LoraPairsMerged { get; internal set; }
    }
}
