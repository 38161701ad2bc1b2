using System;
using System.Collections.Generic;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>How DICOM pixels become the model's 8-bit input (m4cxr_dicom_conversion).
    /// Every mode applies the Modality LUT first and inverts MONOCHROME1 last.</summary>
    public enum DicomConversion
    {
        /// <summary>Default: as MIMIC-CXR-JPG, the training data, was made (min-max to 8 bits, histogram equalisation).</summary>
        MimicJpg = 0,
        /// <summary>The file's first window centre/width (VOI LUT Function honoured); min-max when there is none.</summary>
        Voi = 1,
        /// <summary>Min-max to 8 bits only.</summary>
        MinMax = 2
    }

    /// <summary>What an <see cref="Image"/> read from DICOM keeps (m4cxr_image_get_dicom_field):
    /// identifiers as in the file ("" when absent), <see cref="View"/> resolved as "PA", "AP",
    /// "LATERAL", "OTHER" or "" (unknown), and the <see cref="Conversion"/> applied.</summary>
    public sealed class DicomInfo
    {
        /// <summary>(0020,000D)</summary>
        public string StudyInstanceUid { get; private set; }
        /// <summary>(0020,000E)</summary>
        public string SeriesInstanceUid { get; private set; }
        /// <summary>(0008,0018)</summary>
        public string SopInstanceUid { get; private set; }
        /// <summary>(0010,0020)</summary>
        public string PatientId { get; private set; }
        /// <summary>(0018,5101) as in the file.</summary>
        public string ViewPosition { get; private set; }
        /// <summary>The resolved view: "PA", "AP", "LATERAL", "OTHER" or "".</summary>
        public string View { get; private set; }
        /// <summary>(0008,0020)</summary>
        public string StudyDate { get; private set; }
        /// <summary>(0008,0030)</summary>
        public string StudyTime { get; private set; }
        /// <summary>(0008,0060)</summary>
        public string Modality { get; private set; }
        /// <summary>(0002,0010)</summary>
        public string TransferSyntaxUid { get; private set; }
        /// <summary>"mimic_jpg", "voi", "min_max" or "color".</summary>
        public string Conversion { get; private set; }

        /// <summary>The fields of an image, or null for an image not read from DICOM.</summary>
        internal static DicomInfo Read(ImageHandle h)
        {
            if (Api.m4cxr_image_is_dicom(h) == 0) return null;
            var v = new string[11];
            for (int f = 0; f < v.Length; ++f)
                M4cxrException.Check(Api.m4cxr_image_get_dicom_field(h, (m4cxr_dicom_field)f, out v[f]));
            return new DicomInfo
            {
                StudyInstanceUid = v[0], SeriesInstanceUid = v[1], SopInstanceUid = v[2], PatientId = v[3],
                ViewPosition = v[4], View = v[5], StudyDate = v[6], StudyTime = v[7], Modality = v[8],
                TransferSyntaxUid = v[9], Conversion = v[10]
            };
        }
    }

    /// <summary>A study's DICOM views in report order, and its prior's (m4cxr_dicom_order_study):
    /// PA, then AP, then lateral, then other and unknown views, the given order within each.</summary>
    public sealed class DicomStudy
    {
        /// <summary>The current study's images, ordered.</summary>
        public IList<Image> Current { get; private set; }
        /// <summary>The prior study's images, ordered (empty when none was given).</summary>
        public IList<Image> Prior { get; private set; }

        /// <summary>Orders <paramref name="current"/> (one study read from DICOM) and
        /// <paramref name="prior"/> (an earlier study of the same patient, or null).</summary>
        /// <exception cref="M4cxrException">InvalidArgument: several studies or patients in one
        /// list, images not read from DICOM, a prior that is not an earlier study of the same patient.</exception>
        public static DicomStudy Order(IList<Image> current, IList<Image> prior = null)
        {
            if (current == null) throw new ArgumentNullException("current");
            prior = prior ?? new List<Image>();
            ImageHandle[] a = Handles(current, "current"), b = Handles(prior, "prior");
            var order = new ulong[a.Length];
            var priorOrder = new ulong[Math.Max(b.Length, 1)];
            M4cxrException.Check(Api.m4cxr_dicom_order_study(a, b, order, priorOrder));
            var c = new List<Image>();
            var p = new List<Image>();
            for (int i = 0; i < a.Length; ++i) c.Add(current[checked((int)order[i])]);
            for (int i = 0; i < b.Length; ++i) p.Add(prior[checked((int)priorOrder[i])]);
            return new DicomStudy { Current = c.AsReadOnly(), Prior = p.AsReadOnly() };
        }

        private static ImageHandle[] Handles(IList<Image> images, string name)
        {
            var h = new ImageHandle[images.Count];
            for (int i = 0; i < h.Length; ++i)
            {
                if (images[i] == null) throw new ArgumentNullException(name + "[" + i + "]");
                h[i] = images[i].Handle;
            }
            return h;
        }
    }
}
