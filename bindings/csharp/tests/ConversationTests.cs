// Conversations through the binding: a typed task starts a new conversation unless
// GenerationOptions.ContinueConversation is set (patient safety), AppendTurn restores a
// turn, ClearImageCache makes the next task encode its images again.
using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class ConversationTests
    {
        private Image rgb, gray;

        [TestFixtureSetUp]
        public void Open()
        {
            rgb = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg"));
            gray = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png"));
        }

        [TestFixtureTearDown]
        public void Close()
        {
            rgb.Dispose();
            gray.Dispose();
        }

        private static bool StartsWith(List<long> ids, List<long> prefix)
        {
            return ids.Count >= prefix.Count && ids.Take(prefix.Count).SequenceEqual(prefix);
        }

        [Test]
        public void EachTypedTaskStartsANewConversation()
        {
            List<long> alone;
            using (Session fresh = Golden.Model.CreateSession())
                alone = Golden.PromptIds(fresh.Report(gray, Golden.Greedy(3)), 0);
            using (Session s = Golden.Model.CreateSession())
            {
                Result a = s.Report(rgb, Golden.Greedy(3));
                Result b = s.Report(gray, Golden.Greedy(3));
                // nothing of the first patient's report is in the second one's prompt
                CollectionAssert.AreEqual(alone, Golden.PromptIds(b, 0));
                Assert.AreEqual(2, a.Turns.Count);
                // the streaming form and the options given explicitly behave the same
                using (TaskStream t = s.ReportStream(new[] { gray }, false, new GenerationOptions { MaxNewTokens = 3, ContinueConversation = false }))
                    CollectionAssert.AreEqual(alone, Golden.PromptIds(t.Result, 0));
            }
        }

        [Test]
        public void ContinueConversationContinuesIt()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Result a = s.Report(rgb, Golden.Greedy(3));
                Result b = s.Report(gray, Golden.Greedy(3).Continuing());
                // the second prompt starts with the first task's whole conversation (its last
                // turn's prompt and answer) and goes on after it
                List<long> first = Golden.PromptIds(a, 1).Concat(Golden.GeneratedIds(a, 1)).ToList();
                List<long> second = Golden.PromptIds(b, 0);
                Assert.IsTrue(StartsWith(second, first), "the continued prompt does not start with the first conversation");
                Assert.Greater(second.Count, first.Count);
                StringAssert.StartsWith("radiology image: <image> Which of the following findings", Golden.User(b, 0));
                // chat always continues, with or without the option
                Result c = s.Chat("Is it normal?", options: Golden.Greedy(3));
                List<long> whole = second.Concat(Golden.GeneratedIds(b, 1)).ToList();
                Assert.IsTrue(StartsWith(Golden.PromptIds(c, 0), Golden.PromptIds(b, 1)));
                Assert.Greater(Golden.PromptIds(c, 0).Count, whole.Count);
            }
        }

        private const string Question = "Which of the following findings are present in the radiology image? Findings: cardiomegaly, edema";

        [Test]
        public void AppendTurnRestoresATurn()
        {
            // the prompt of the same user turn asked on an empty session
            List<long> asked;
            using (Session s = Golden.Model.CreateSession())
                asked = Golden.PromptIds(s.Chat(Question, gray, Golden.Greedy(2)), 0);
            List<long> one, two;
            using (Session s = Golden.Model.CreateSession())
            {
                s.AppendTurn("radiology image: <image> " + Question, "cardiomegaly", new[] { gray });
                Result r = s.Chat("Describe the heart.", options: Golden.Greedy(2));
                Assert.AreEqual("Describe the heart.", Golden.User(r, 0));
                one = Golden.PromptIds(r, 0);
                Assert.AreEqual(one.Count, r.Stats.PromptTokens);
            }
            using (Session s = Golden.Model.CreateSession())
            {
                s.AppendTurn("radiology image: <image> " + Question, "cardiomegaly, edema", new[] { gray });
                two = Golden.PromptIds(s.Chat("Describe the heart.", options: Golden.Greedy(2)), 0);
            }
            // the appended turn is the start of the next prompt: the user turn as asked, then the
            // answer (a longer answer, a longer prompt), then the new question
            Assert.IsTrue(StartsWith(one, asked), "the prompt after AppendTurn does not start with the appended user turn");
            Assert.IsTrue(StartsWith(two, asked));
            Assert.Greater(one.Count, asked.Count + 2);
            Assert.Greater(two.Count, one.Count);
            Assert.IsTrue(StartsWith(two, one.Take(asked.Count + 1).ToList()), "the answers start alike");

            // a typed task with ContinueConversation continues after it as well
            using (Session s = Golden.Model.CreateSession())
            {
                s.AppendTurn("radiology image: <image> " + Question, "cardiomegaly", new[] { gray });
                Result r = s.Vqa(gray, "Is the heart enlarged?", Golden.Greedy(2).Continuing());
                Assert.IsTrue(StartsWith(Golden.PromptIds(r, 0), asked));
                r = s.Vqa(gray, "Is the heart enlarged?", Golden.Greedy(2));  // a new conversation
                Assert.IsFalse(StartsWith(Golden.PromptIds(r, 0), asked));
            }
        }

        [Test]
        public void AppendTurnErrorsAreMapped()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                // one marker, no image
                var e = Assert.Throws<M4cxrException>(() => s.AppendTurn("radiology image: <image> " + Question, "edema"));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
                Assert.IsNotEmpty(e.Message);
                // an image, no marker
                e = Assert.Throws<M4cxrException>(() => s.AppendTurn(Question, "edema", new[] { gray }));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
                // a marker in the answer
                e = Assert.Throws<M4cxrException>(() => s.AppendTurn("radiology image: <image> " + Question, "edema <image>", new[] { gray }));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
                // empty user text
                Assert.AreEqual(Status.InvalidArgument, Assert.Throws<M4cxrException>(() => s.AppendTurn("", "edema")).Status);
                Assert.Throws<ArgumentNullException>(() => s.AppendTurn(null, "edema"));
                Assert.Throws<ArgumentNullException>(() => s.AppendTurn(Question, null));
                Assert.Throws<ArgumentNullException>(() => s.AppendTurn("radiology image: <image> " + Question, "edema", new Image[] { null }));
                // busy while a task is unfinished
                using (TaskStream t = s.VqaStream(gray, "first?", Golden.Greedy(2)))
                    Assert.AreEqual(Status.Busy, Assert.Throws<M4cxrException>(() => s.AppendTurn(Question, "edema")).Status);
                // a refused call leaves the session as it was: still empty
                Result r = s.Chat("Hello", options: Golden.Greedy(2));
                StringAssert.EndsWith("Hello", Golden.User(r, 0));
                Assert.Greater(Golden.User(r, 0).Length, "Hello".Length);  // with the system message
            }
            Session gone = Golden.Model.CreateSession();
            gone.Dispose();
            Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => gone.AppendTurn(Question, "edema")).Status);
        }

        [Test]
        public void ClearImageCacheMakesTheNextTaskEncodeAgain()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Vqa(gray, "Is the heart enlarged?", Golden.Greedy(2));
                Assert.Greater(r.Stats.ImageEncodeMs, 0);
                r = s.Vqa(gray, "Is the heart enlarged?", Golden.Greedy(2));
                Assert.AreEqual(0, r.Stats.ImageEncodeMs, "the image embedding is cached between tasks");
                s.ClearImageCache();
                r = s.Vqa(gray, "Is the heart enlarged?", Golden.Greedy(2));
                Assert.Greater(r.Stats.ImageEncodeMs, 0);
            }
            Session gone = Golden.Model.CreateSession();
            gone.Dispose();
            Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => gone.ClearImageCache()).Status);
        }

        [Test]
        public void MaxCachedImagesZeroCachesNothing()
        {
            Assert.AreEqual(8, new ModelOptions().MaxCachedImages);
            using (Model m = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2, MaxCachedImages = 0 }))
            using (Image im = m.Image(Golden.ImagePath("gray8_70x70.png")))
            using (Session s = m.CreateSession())
            {
                Assert.Greater(s.Vqa(im, "Is the heart enlarged?", Golden.Greedy(2)).Stats.ImageEncodeMs, 0);
                Assert.Greater(s.Vqa(im, "Is the heart enlarged?", Golden.Greedy(2)).Stats.ImageEncodeMs, 0);
            }
        }
    }
}
