using System;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// A loaded M4CXR checkpoint (m4cxr_model). Creates <see cref="Session"/>s and
    /// <see cref="M4cxr.Image"/>s.
    /// </summary>
    /// <remarks>
    /// Threading: immutable after loading; any number of threads may create sessions and
    /// images from one model at the same time.
    /// Ownership: Dispose releases the model; its sessions keep the weights until they are
    /// released too (the C library does that), and images stay usable, so disposing in any
    /// order is safe, also from another thread while a task runs. Call Dispose (or use
    /// <c>using</c>) to free the weights deterministically.
    /// Errors: failing calls throw <see cref="M4cxrException"/> with the C message.
    /// </remarks>
    public sealed class Model : IDisposable
    {
        internal readonly ModelHandle Handle;

        /// <summary>Architecture facts, read once at load.</summary>
        public ModelInfo Info { get; private set; }

        /// <summary>"major.minor.patch" of the loaded libm4cxr.</summary>
        public static string Version { get { return Api.m4cxr_version_string(); } }

        /// <summary>M4CXR_ABI_VERSION of the loaded libm4cxr (this binding was built for <see cref="Api.M4CXR_ABI_VERSION"/>).</summary>
        public static int AbiVersion { get { return Api.m4cxr_abi_version(); } }

        /// <summary>
        /// The task table built into the loaded libm4cxr (m4cxr_task_table_json): tasks,
        /// arguments with types, counts and defaults. The task methods of <see cref="Session"/>
        /// are generated from the same table.
        /// </summary>
        public static string TaskTableJson { get { return Api.m4cxr_task_table_json(); } }

        private Model(ModelHandle handle)
        {
            Handle = handle;
            using (var i = new m4cxr_model_info())
            {
                M4cxrException.Check(Api.m4cxr_model_get_info(handle, i));
                Info = new ModelInfo
                {
                    VisualTokensPerImage = i.visual_tokens_per_image,
                    ImageSize = i.image_size,
                    VisionLayers = i.vision_layers,
                    VisionHidden = i.vision_hidden,
                    TextLayers = i.text_layers,
                    TextHidden = i.text_hidden,
                    VocabSize = i.vocab_size,
                    DType = (DType)(int)i.dtype,
                    Device = i.device,
                    WeightBytes = i.weight_bytes,
                    LoraPairsMerged = i.lora_pairs_merged,
                };
            }
        }

        /// <summary>Loads a checkpoint folder (config.json, *.safetensors, tokenizer.model).</summary>
        /// <param name="modelDir">Checkpoint folder.</param>
        /// <param name="options">Null for the defaults (bfloat16 on the CPU).</param>
        /// <exception cref="M4cxrException">Missing files (Io), malformed ones (Format), a
        /// checkpoint that does not fit the architecture (Model), bad options (InvalidArgument).</exception>
        public static Model Load(string modelDir, ModelOptions options = null)
        {
            if (modelDir == null) throw new ArgumentNullException("modelDir");
            if (Api.m4cxr_abi_version() != Api.M4CXR_ABI_VERSION)
                throw new M4cxrException(Status.Unsupported, string.Format(
                    "libm4cxr ABI {0} does not match this binding's {1}", Api.m4cxr_abi_version(), Api.M4CXR_ABI_VERSION));
            Log.Install();  // libm4cxr's messages -> M4cxr.Log (once)
            IntPtr raw;
            m4cxr_status st;
            using (m4cxr_model_options o = (options ?? new ModelOptions()).ToNative())
                st = Api.m4cxr_model_load(modelDir, o, out raw);
            M4cxrException.Check(st);
            var handle = new ModelHandle(raw);
            try
            {
                return new Model(handle);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>A new conversation on this model (owned by the caller: dispose it).</summary>
        public Session CreateSession()
        {
            IntPtr raw;
            M4cxrException.Check(Api.m4cxr_session_create(Handle, out raw));
            return new Session(this, new SessionHandle(raw));
        }

        /// <summary>Decodes a PNG (8/16-bit), JPEG or BMP file and preprocesses it for this model.</summary>
        /// <exception cref="M4cxrException">Missing file (Io), undecodable content (Format), too many pixels (Limit).</exception>
        public Image Image(string path)
        {
            if (path == null) throw new ArgumentNullException("path");
            IntPtr raw;
            M4cxrException.Check(Api.m4cxr_image_from_file(Handle, path, out raw));
            return new Image(new ImageHandle(raw));
        }

        /// <summary>Reads a DICOM Part-10 chest radiograph (m4cxr_image_from_dicom_file); multi-frame
        /// objects, modalities other than CR/DX/RG and colour are refused unless allowed.
        /// <see cref="M4cxr.Image.Dicom"/> holds its identifiers.</summary>
        /// <exception cref="M4cxrException">Io, Format (not Part-10, corrupt), Unsupported (transfer
        /// syntax, modality, colour, frames), Limit.</exception>
        public Image Dicom(string path, DicomConversion conversion = DicomConversion.MimicJpg, bool allowMultiframe = false,
                           bool allowAnyModality = false, bool allowColor = false)
        {
            if (path == null) throw new ArgumentNullException("path");
            using (var o = DicomOptions(conversion, allowMultiframe, allowAnyModality, allowColor))
            {
                IntPtr raw;
                M4cxrException.Check(Api.m4cxr_image_from_dicom_file(Handle, path, o, out raw));
                return new Image(new ImageHandle(raw));
            }
        }

        /// <summary>Same as <see cref="Dicom(string, DicomConversion, bool, bool, bool)"/> from the file's bytes.</summary>
        public Image Dicom(byte[] bytes, DicomConversion conversion = DicomConversion.MimicJpg, bool allowMultiframe = false,
                           bool allowAnyModality = false, bool allowColor = false)
        {
            if (bytes == null) throw new ArgumentNullException("bytes");
            using (var o = DicomOptions(conversion, allowMultiframe, allowAnyModality, allowColor))
            {
                IntPtr raw;
                M4cxrException.Check(Api.m4cxr_image_from_dicom_memory(Handle, bytes, o, out raw));
                return new Image(new ImageHandle(raw));
            }
        }

        private static m4cxr_dicom_options DicomOptions(DicomConversion conversion, bool multiframe, bool anyModality, bool color)
        {
            var o = new m4cxr_dicom_options();  // m4cxr_dicom_options_default
            o.conversion = (m4cxr_dicom_conversion)(int)conversion;
            o.allow_multiframe = multiframe ? 1 : 0;
            o.allow_any_modality = anyModality ? 1 : 0;
            o.allow_color = color ? 1 : 0;
            return o;
        }

        /// <summary>Same as <see cref="Model.Image(string)"/> from encoded file bytes (copied).</summary>
        public Image Image(byte[] encoded)
        {
            if (encoded == null) throw new ArgumentNullException("encoded");
            IntPtr raw;
            M4cxrException.Check(Api.m4cxr_image_from_memory(Handle, encoded, out raw));
            return new Image(new ImageHandle(raw));
        }

        /// <summary>An image from raw pixels (copied).</summary>
        /// <param name="pixels">Rows of pixels, <paramref name="strideBytes"/> apart; 16-bit formats native-endian.</param>
        /// <param name="width">Width in pixels.</param>
        /// <param name="height">Height in pixels.</param>
        /// <param name="format">Pixel layout.</param>
        /// <param name="strideBytes">Bytes from one row to the next; 0 = tightly packed.</param>
        public Image Image(byte[] pixels, int width, int height, PixelFormat format, int strideBytes = 0)
        {
            if (pixels == null) throw new ArgumentNullException("pixels");
            if (strideBytes == 0)
            {
                int bytesPerPixel = format == PixelFormat.Gray8 ? 1 : format == PixelFormat.Gray16 ? 2 : format == PixelFormat.Rgb8 ? 3 : 6;
                strideBytes = width * bytesPerPixel;
            }
            IntPtr raw;
            M4cxrException.Check(Api.m4cxr_image_from_pixels(Handle, pixels, width, height, (ulong)Math.Max(0, strideBytes),
                                                             (m4cxr_pixel_format)(int)format, out raw));
            return new Image(new ImageHandle(raw));
        }

        /// <summary>Releases the model (see the remarks on ownership).</summary>
        public void Dispose() { Handle.Dispose(); }
    }
}
