using System;
using System.IO;
using M4cxr.Native;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class ModelTests
    {
        [Test]
        public void VersionAndAbi()
        {
            Assert.AreEqual(Api.M4CXR_ABI_VERSION, Model.AbiVersion);
            StringAssert.Contains(".", Model.Version);
        }

        [Test]
        public void LoadAndInfo()
        {
            ModelInfo info = Golden.Model.Info;
            Assert.AreEqual((int)Golden.Manifest["dims"]["num_visual_tokens_per_image"], info.VisualTokensPerImage);
            Assert.AreEqual((int)Golden.Manifest["dims"]["lm"]["hidden_size"], info.TextHidden);
            Assert.AreEqual(DType.Float32, info.DType);
            Assert.AreEqual("cpu", info.Device);
            Assert.Greater(info.WeightBytes, 0UL);
            Assert.Greater(info.ImageSize, 0);
        }

        [Test]
        public void DefaultsComeFromTheCApi()
        {
            var m = new ModelOptions();
            Assert.AreEqual(DType.BFloat16, m.DType);
            Assert.AreEqual("cpu", m.Device);
            Assert.AreEqual(16384L * 16384L, m.MaxImagePixels);
            var g = new GenerationOptions();
            Assert.AreEqual(500, g.MaxNewTokens);
            Assert.IsFalse(g.DoSample);
            Assert.IsFalse(g.ContinueConversation);  // a typed task starts a new conversation by default
            Assert.AreEqual(8, m.MaxCachedImages);
        }

        [Test]
        public void EnumsMirrorTheCHeader()
        {
            foreach (m4cxr_status s in Enum.GetValues(typeof(m4cxr_status)))
                Assert.IsTrue(Enum.IsDefined(typeof(Status), (int)s), s.ToString());
            Assert.AreEqual(Enum.GetValues(typeof(m4cxr_status)).Length, Enum.GetValues(typeof(Status)).Length);
            Assert.AreEqual((int)m4cxr_pixel_format.M4CXR_PIXELS_RGB16, (int)PixelFormat.Rgb16);
            Assert.AreEqual((int)m4cxr_box_question.M4CXR_NAME_PHRASE, (int)BoxQuestion.Phrase);
            Assert.AreEqual((int)m4cxr_dtype.M4CXR_DTYPE_FLOAT32, (int)DType.Float32);
            Assert.AreEqual((int)m4cxr_dtype.M4CXR_DTYPE_INT8, (int)DType.Int8);
        }

        [Test]
        public void Int8WeightsLoadAndRun()
        {
            using (Model int8 = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Int8, Threads = 1 }))
            using (Model bf16 = Model.Load(Golden.ModelDir, new ModelOptions { Threads = 1 }))
            {
                Assert.AreEqual(DType.Int8, int8.Info.DType);
                Assert.Less(int8.Info.WeightBytes, bf16.Info.WeightBytes);
                using (Session s = int8.CreateSession())
                using (Image im = int8.Image(Golden.ImagePath("gray8_70x70.png")))
                {
                    Result r = s.Vqa(im, "Is there edema?", Golden.Greedy(3));
                    Assert.Greater(r.Stats.GeneratedTokens, 0);
                    StringAssert.Contains("\"runtime_dtype\": \"int8\"", r.Json);
                }
            }
        }

        [Test]
        public void MissingModelFolderThrowsWithTheCMessage()
        {
            var e = Assert.Throws<M4cxrException>(() => Model.Load("/nonexistent/model"));
            Assert.AreEqual(Status.Io, e.Status);
            StringAssert.Contains("/nonexistent/model", e.Message);
            // the same message as the C API gives for the same call
            IntPtr raw;
            Assert.AreEqual(m4cxr_status.M4CXR_ERR_IO, Api.m4cxr_model_load("/nonexistent/model", null, out raw));
            Assert.AreEqual(Api.m4cxr_last_error(), e.Message);
            Assert.AreEqual(IntPtr.Zero, raw);
        }

        [Test]
        public void BadOptionsThrow()
        {
            var e = Assert.Throws<M4cxrException>(() => Model.Load(Golden.ModelDir, new ModelOptions { Threads = -1 }));
            Assert.AreEqual(Status.InvalidArgument, e.Status);
            StringAssert.Contains("threads", e.Message);
        }

        [Test]
        public void CorruptAndMissingImagesThrowWithTheCMessage()
        {
            byte[] junk = { 0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3 };
            var e = Assert.Throws<M4cxrException>(() => Golden.Model.Image(junk));
            Assert.AreEqual(Status.Format, e.Status);
            IntPtr raw;
            Assert.AreEqual(m4cxr_status.M4CXR_ERR_FORMAT, Api.m4cxr_image_from_memory(Golden.Model.Handle, junk, out raw));
            Assert.AreEqual(Api.m4cxr_last_error(), e.Message);
            Assert.IsNotEmpty(e.Message);

            string missing = Golden.ImagePath("missing.png");
            e = Assert.Throws<M4cxrException>(() => Golden.Model.Image(missing));
            Assert.AreEqual(Status.Io, e.Status);
            StringAssert.Contains("missing.png", e.Message);

            string truncated = Path.GetTempFileName();
            try
            {
                byte[] png = File.ReadAllBytes(Golden.ImagePath("gray8_70x70.png"));
                Array.Resize(ref png, png.Length / 2);
                File.WriteAllBytes(truncated, png);
                e = Assert.Throws<M4cxrException>(() => Golden.Model.Image(truncated));
                Assert.AreEqual(Status.Format, e.Status);
            }
            finally
            {
                File.Delete(truncated);
            }
        }

        [Test]
        public void ImagesFromFileMemoryAndPixels()
        {
            string path = Golden.ImagePath("rgb_150x200.jpg");
            using (Image a = Golden.Model.Image(path))
            using (Image b = Golden.Model.Image(File.ReadAllBytes(path)))
            {
                Assert.AreEqual(150, a.Width);
                Assert.AreEqual(200, a.Height);
                Assert.AreEqual(64, a.Hash.Length);
                Assert.AreEqual(a.Hash, b.Hash);
            }
            var px = new byte[3 * 2 * 3];
            for (int i = 0; i < px.Length; ++i) px[i] = (byte)(i * 13);
            using (Image c = Golden.Model.Image(px, 3, 2, PixelFormat.Rgb8))
            {
                Assert.AreEqual(3, c.Width);
                Assert.AreEqual(2, c.Height);
            }
            var e = Assert.Throws<M4cxrException>(() => Golden.Model.Image(new byte[6], 3, 2, PixelFormat.Gray8, 2));
            Assert.AreEqual(Status.InvalidArgument, e.Status);  // stride below a row
        }

        [Test]
        public void BoxGeometry()
        {
            using (Image a = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg")))
            {
                // 150x200 portrait: side 150, crop offset 25 on y
                CollectionAssert.AreEqual(new[] { 20, 10, 80, 90 }, a.PixelsToModel(new double[] { 30, 40, 120, 160 }));
                double[] back = a.ModelToPixels(new[] { 20, 10, 80, 90 });
                CollectionAssert.AreEqual(new double[] { 30, 40, 120, 160 }, back);
                Assert.Throws<ArgumentException>(() => a.PixelsToModel(new double[] { 1, 2, 3 }));
            }
        }

        [Test]
        public void DisposedObjectsAreReportedNotCrashed()
        {
            Image im = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png"));
            im.Dispose();
            im.Dispose();  // twice: fine
            Assert.Throws<ObjectDisposedException>(() => { string h = im.Hash; });
            using (Session s = Golden.Model.CreateSession())
            {
                var e = Assert.Throws<M4cxrException>(() => s.Vqa(im, "ok?", Golden.Greedy(2)));
                Assert.That(e.Status == Status.InvalidHandle || e.Status == Status.InvalidArgument, e.Status + ": " + e.Message);
                Assert.IsNotEmpty(e.Message);
            }
            Session gone = Golden.Model.CreateSession();
            gone.Dispose();
            Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => gone.Reset()).Status);
        }

        [Test]
        public void ModelDisposedBeforeItsObjectsStaysAlive()
        {
            // Disposal in the "wrong" order is safe: sessions and images hold the model.
            Model m = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 });
            Image im = m.Image(Golden.ImagePath("gray8_70x70.png"));
            Session s = m.CreateSession();
            m.Dispose();
            // The one rule of all three bindings: a disposed model makes nothing new...
            Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => m.CreateSession()).Status);
            Assert.AreEqual(Status.InvalidHandle,
                            Assert.Throws<M4cxrException>(() => m.Image(Golden.ImagePath("gray8_70x70.png"))).Status);
            // ...and what was made from it keeps working.
            Assert.IsNotEmpty(s.Vqa(im, "Is there pleural effusion?", Golden.Greedy(3)).Json);
            s.Dispose();
            im.Dispose();
        }
    }
}
