using System;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// A decoded, preprocessed image (m4cxr_image) made by <see cref="Model.Image(string)"/>.
    /// It keeps its original size and crop geometry: boxes go in and come out in original
    /// pixels.
    /// </summary>
    /// <remarks>Immutable: may be shared between threads and sessions. Dispose frees it;
    /// tasks that were given it keep what they need.</remarks>
    public sealed class Image : IDisposable
    {
        internal readonly ImageHandle Handle;
        private string hash;

        /// <summary>Original width in pixels.</summary>
        public int Width { get; private set; }
        /// <summary>Original height in pixels.</summary>
        public int Height { get; private set; }

        internal Image(ImageHandle handle)
        {
            Handle = handle;
            int w, h;
            M4cxrException.Check(Api.m4cxr_image_get_size(handle, out w, out h));
            Width = w;
            Height = h;
            Dicom = DicomInfo.Read(handle);
        }

        /// <summary>Identifiers and view of an image read from DICOM (<see cref="Model.Dicom(string, DicomConversion, bool, bool, bool)"/>); null for other images.</summary>
        public DicomInfo Dicom { get; private set; }

        /// <summary>Hex SHA-256 of the decoded RGB pixels and size.</summary>
        public string Hash
        {
            get
            {
                if (hash == null)
                {
                    string h = Api.m4cxr_image_hash(Handle);
                    if (h == null) throw new ObjectDisposedException("Image");
                    hash = h;
                }
                return hash;
            }
        }

        /// <summary>A box x1,y1,x2,y2 in original pixels to the model's 0-100 frame of this image.</summary>
        public int[] PixelsToModel(double[] box)
        {
            CheckFour(box, "box");
            var m = new int[4];
            M4cxrException.Check(Api.m4cxr_image_pixels_to_model(Handle, box, m));
            return m;
        }

        /// <summary>A box x1,y1,x2,y2 in the model's 0-100 frame to original pixels.</summary>
        public double[] ModelToPixels(int[] box)
        {
            CheckFour(box, "box");
            var p = new double[4];
            M4cxrException.Check(Api.m4cxr_image_model_to_pixels(Handle, box, p));
            return p;
        }

        internal static void CheckFour<T>(T[] v, string name)
        {
            if (v == null) throw new ArgumentNullException(name);
            if (v.Length != 4) throw new ArgumentException("a box has 4 values (x1, y1, x2, y2)", name);
        }

        /// <summary>Frees the image.</summary>
        public void Dispose() { Handle.Dispose(); }
    }
}
