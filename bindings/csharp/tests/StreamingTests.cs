using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class StreamingTests
    {
        private Image image;

        [TestFixtureSetUp]
        public void Open() { image = Golden.Model.Image(Golden.ImagePath("gray8_73x101.png")); }

        [TestFixtureTearDown]
        public void Close() { image.Dispose(); }

        // Sampling with a seed: random weights rarely emit EOS, so generations run long.
        private static GenerationOptions Long()
        {
            return new GenerationOptions { MaxNewTokens = 400, DoSample = true, Seed = 7 };
        }

        [Test]
        public void PiecesConcatenateToTheFinalTextPerTurn()
        {
            using (Session s = Golden.Model.CreateSession())
            using (TaskStream stream = s.ReportStream(image, Golden.Greedy(12)))
            {
                var turns = new List<StringBuilder>();
                int pieces = 0;
                foreach (string piece in stream)
                {
                    while (turns.Count <= stream.Turn) turns.Add(new StringBuilder());
                    turns[stream.Turn].Append(piece);
                    ++pieces;
                }
                Assert.IsTrue(stream.IsFinished);
                Result r = stream.Result;
                Assert.Greater(pieces, 1);
                Assert.AreEqual(2, turns.Count);
                Assert.AreEqual(r.Turns[0], turns[0].ToString());
                Assert.AreEqual(r.Turns[1], turns[1].ToString());
                Assert.AreEqual(r.Text, turns[1].ToString());
                Assert.IsFalse(r.Stats.Cancelled);
                Assert.Throws<InvalidOperationException>(() => stream.GetEnumerator());  // streams once
            }
            // the streamed report equals the non-streamed one
            using (Session a = Golden.Model.CreateSession())
            using (Session b = Golden.Model.CreateSession())
            using (TaskStream stream = a.ChatStream("Describe the image.", image, Golden.Greedy(10)))
            {
                var text = new StringBuilder();
                foreach (string piece in stream) text.Append(piece);
                Assert.AreEqual(b.Chat("Describe the image.", image, Golden.Greedy(10)).Text, text.ToString());
                Assert.AreEqual(text.ToString(), stream.Result.Text);
            }
        }

        [Test]
        public void ResultRunsTheRestOfAPartlyReadStream()
        {
            using (Session s = Golden.Model.CreateSession())
            using (TaskStream stream = s.VqaStream(image, "Is the heart enlarged?", Golden.Greedy(8)))
            {
                var first = new StringBuilder();
                foreach (string piece in stream)
                {
                    first.Append(piece);
                    break;
                }
                Result r = stream.Result;
                StringAssert.StartsWith(first.ToString(), r.Text);
                Assert.AreEqual(8, r.Stats.GeneratedTokens + (r.Stats.StoppedByEos ? 8 - r.Stats.GeneratedTokens : 0));
            }
        }

        [Test]
        public void DisposingMidStreamStopsAndFreesTheSession()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                int pieces = 0;
                using (TaskStream stream = s.ChatStream("Describe.", image, Long()))
                {
                    foreach (string piece in stream)
                        if (++pieces == 3) break;
                }
                Assert.AreEqual(3, pieces);
                // the session continues: the abandoned task was stopped and freed
                Result r = s.Chat("And now?", options: Golden.Greedy(3));
                Assert.AreEqual("And now?", Golden.User(r, 0));
            }
        }

        [Test]
        public void CancellationTokenStopsTheGenerationFromAnotherThread()
        {
            using (Session s = Golden.Model.CreateSession())
            using (var cts = new CancellationTokenSource())
            using (var three = new ManualResetEventSlim())
            {
                var canceller = new Thread(() =>
                {
                    three.Wait();
                    cts.Cancel();
                });
                canceller.Start();
                int pieces = 0;
                using (TaskStream stream = s.ChatStream("Describe.", image, Long(), cts.Token))
                {
                    foreach (string piece in stream)
                    {
                        if (++pieces == 3)
                        {
                            three.Set();
                            canceller.Join();  // the cancel has landed
                        }
                    }
                    Result r = stream.Result;
                    canceller.Join();
                    if (!r.Stats.StoppedByEos)
                    {
                        Assert.IsTrue(r.Stats.Cancelled);
                        Assert.Less(r.Stats.GeneratedTokens, 400);
                        Assert.LessOrEqual(r.Stats.GeneratedTokens, pieces + 4);
                    }
                }
                Assert.IsNotNull(s.Vqa(image, "ok?", Golden.Greedy(2)).Text);  // usable afterwards
            }
        }

        [Test]
        public void AnAlreadyCancelledTokenStopsAtOnce()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Chat("Describe.", image, Long(), new CancellationToken(true));
                Assert.IsTrue(r.Stats.Cancelled);
                Assert.LessOrEqual(r.Stats.GeneratedTokens, 1);
            }
        }

        [Test]
        public void SessionCancelFromAnotherThread()
        {
            using (Session s = Golden.Model.CreateSession())
            using (TaskStream stream = s.ChatStream("Describe.", image, Long()))
            {
                int pieces = 0;
                foreach (string piece in stream)
                {
                    if (++pieces == 2)
                    {
                        var t = new Thread(() => s.Cancel());
                        t.Start();
                        t.Join();
                    }
                }
                Result r = stream.Result;
                if (!r.Stats.StoppedByEos)
                {
                    Assert.IsTrue(r.Stats.Cancelled);
                    Assert.LessOrEqual(r.Stats.GeneratedTokens, pieces + 4);
                }
            }
        }
    }
}
