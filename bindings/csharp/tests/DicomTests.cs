using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NUnit.Framework;

namespace M4cxr.Tests
{
    /// <summary>DICOM input from C#: files written here (explicit VR little endian, synthetic
    /// pixels and identifiers).</summary>
    [TestFixture]
    public class DicomTests
    {
        private const string Study = "1.2.826.0.1.3680043.10.1234.9";

        private static void Element(MemoryStream s, int group, int elem, string vr, byte[] value)
        {
            if (value.Length % 2 == 1) Array.Resize(ref value, value.Length + 1);
            var w = new BinaryWriter(s);
            w.Write((ushort)group);
            w.Write((ushort)elem);
            w.Write(Encoding.ASCII.GetBytes(vr));
            if (vr == "OB" || vr == "OW") { w.Write((ushort)0); w.Write((uint)value.Length); }
            else w.Write((ushort)value.Length);
            w.Write(value);
        }

        private static byte[] Text(string s)
        {
            if (s.Length % 2 == 1) s += " ";
            return Encoding.ASCII.GetBytes(s);
        }

        private static byte[] Us(int v) { return BitConverter.GetBytes((ushort)v); }

        internal static byte[] Dicom(string view, string modality, string study, string sop, string date)
        {
            int rows = 14, cols = 18;
            var px = new byte[rows * cols * 2];
            for (int i = 0; i < rows * cols; ++i) BitConverter.GetBytes((ushort)((i * 53) % 4096)).CopyTo(px, 2 * i);
            var meta = new MemoryStream();
            Element(meta, 2, 1, "OB", new byte[] { 0, 1 });
            Element(meta, 2, 2, "UI", Encoding.ASCII.GetBytes("1.2.840.10008.5.1.4.1.1.1.1"));
            Element(meta, 2, 3, "UI", Encoding.ASCII.GetBytes(sop));
            Element(meta, 2, 0x10, "UI", Encoding.ASCII.GetBytes("1.2.840.10008.1.2.1"));
            var ds = new MemoryStream();
            Element(ds, 8, 0x18, "UI", Encoding.ASCII.GetBytes(sop));
            Element(ds, 8, 0x20, "DA", Text(date));
            Element(ds, 8, 0x60, "CS", Text(modality));
            Element(ds, 0x10, 0x20, "LO", Text("SYNTH-CS"));
            Element(ds, 0x18, 0x5101, "CS", Text(view));
            Element(ds, 0x20, 0x0D, "UI", Encoding.ASCII.GetBytes(study));
            Element(ds, 0x28, 2, "US", Us(1));
            Element(ds, 0x28, 4, "CS", Text("MONOCHROME2"));
            Element(ds, 0x28, 0x10, "US", Us(rows));
            Element(ds, 0x28, 0x11, "US", Us(cols));
            Element(ds, 0x28, 0x100, "US", Us(16));
            Element(ds, 0x28, 0x101, "US", Us(12));
            Element(ds, 0x28, 0x102, "US", Us(11));
            Element(ds, 0x28, 0x103, "US", Us(0));
            Element(ds, 0x7fe0, 0x10, "OW", px);
            var file = new MemoryStream();
            file.Write(new byte[128], 0, 128);
            file.Write(Encoding.ASCII.GetBytes("DICM"), 0, 4);
            Element(file, 2, 0, "UL", BitConverter.GetBytes((uint)meta.Length));
            meta.WriteTo(file);
            ds.WriteTo(file);
            return file.ToArray();
        }

        [Test]
        public void FileAndBytesKeepIdentifiers()
        {
            byte[] data = Dicom("LL", "DX", Study, Study + ".1.1", "20230303");
            string path = Path.GetTempFileName();
            File.WriteAllBytes(path, data);
            try
            {
                using (Image a = Golden.Model.Dicom(path))
                using (Image b = Golden.Model.Dicom(data))
                using (Image c = Golden.Model.Dicom(data, DicomConversion.MinMax))
                {
                    Assert.AreEqual(a.Hash, b.Hash);
                    Assert.AreNotEqual(a.Hash, c.Hash);
                    Assert.AreEqual(18, a.Width);
                    Assert.AreEqual("SYNTH-CS", a.Dicom.PatientId);
                    Assert.AreEqual("LATERAL", a.Dicom.View);
                    Assert.AreEqual("LL", a.Dicom.ViewPosition);
                    Assert.AreEqual(Study, a.Dicom.StudyInstanceUid);
                    Assert.AreEqual(Study + ".1.1", a.Dicom.SopInstanceUid);
                    Assert.AreEqual("mimic_jpg", a.Dicom.Conversion);
                    Assert.AreEqual("min_max", c.Dicom.Conversion);
                }
                using (Image png = Golden.Model.Image(Golden.ImagePath("gray8_73x101.png")))
                    Assert.IsNull(png.Dicom);
            }
            finally { File.Delete(path); }
        }

        [Test]
        public void RefusalsAndOverrides()
        {
            byte[] ct = Dicom("PA", "CT", Study, Study + ".1.2", "20230303");
            var e = Assert.Throws<M4cxrException>(() => Golden.Model.Dicom(ct));
            Assert.AreEqual(Status.Unsupported, e.Status);
            using (Image im = Golden.Model.Dicom(ct, allowAnyModality: true))
                Assert.AreEqual("CT", im.Dicom.Modality);
            byte[] cut = new byte[ct.Length / 2];
            Array.Copy(ct, cut, cut.Length);
            Assert.AreEqual(Status.Format, Assert.Throws<M4cxrException>(() => Golden.Model.Dicom(cut, allowAnyModality: true)).Status);
        }

        [Test]
        public void ReportToFhirAndDicomSr()
        {
            using (Image pa = Golden.Model.Dicom(Dicom("PA", "DX", Study, Study + ".1.5", "20230303")))
            using (Image lat = Golden.Model.Dicom(Dicom("LL", "DX", Study, Study + ".1.6", "20230303")))
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Report(new List<Image> { pa, lat }, Golden.Greedy(3));
                string fhir = r.ToFhir();
                Assert.AreEqual(fhir, r.ToFhir());
                StringAssert.Contains("\"resourceType\": \"DiagnosticReport\"", fhir);
                StringAssert.Contains("\"status\": \"preliminary\"", fhir);
                StringAssert.Contains("\"urn:oid:" + Study + "\"", fhir);
                StringAssert.Contains("\"SYNTH-CS\"", fhir);
                StringAssert.Contains("\"AIAST\"", fhir);
                StringAssert.Contains("\"36643-5\"", fhir);  // two views: XR Chest 2 Views
                byte[] sr = r.ToDicomSr();
                Assert.AreEqual("DICM", Encoding.ASCII.GetString(sr, 128, 4));
                string raw = Encoding.GetEncoding("ISO-8859-1").GetString(sr);
                StringAssert.Contains("1.2.840.10008.5.1.4.1.1.88.33", raw);  // Comprehensive SR
                StringAssert.Contains(Study, raw);
                StringAssert.Contains("SYNTH-CS", raw);
                sr[200] ^= 1;
                Assert.AreNotEqual(sr[200], r.ToDicomSr()[200], "a copy each time");
            }
        }

        [Test]
        public void StudyOrderAndPrior()
        {
            using (Image lat = Golden.Model.Dicom(Dicom("LL", "DX", Study, Study + ".1.3", "20230303")))
            using (Image pa = Golden.Model.Dicom(Dicom("PA", "DX", Study, Study + ".1.4", "20230303")))
            using (Image old = Golden.Model.Dicom(Dicom("AP", "DX", Study + ".0", Study + ".0.1", "20220101")))
            {
                DicomStudy s = DicomStudy.Order(new List<Image> { lat, pa }, new List<Image> { old });
                CollectionAssert.AreEqual(new[] { pa, lat }, s.Current);
                CollectionAssert.AreEqual(new[] { old }, s.Prior);
                CollectionAssert.AreEqual(new[] { pa, lat }, DicomStudy.Order(new List<Image> { lat, pa }).Current);
                var e = Assert.Throws<M4cxrException>(() => DicomStudy.Order(new List<Image> { old }, new List<Image> { lat }));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
            }
        }
    }
}
