using System;
using System.Linq;
using System.Threading;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class ThreadsTests
    {
        private static string RunOnce(Image image)
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Report(image, Golden.Greedy(10));
                return string.Join("|", r.Findings) + "\n" + r.Turns[0] + "\n" + r.Text;
            }
        }

        [Test]
        public void TwoThreadsWithTwoSessionsGiveTheSingleThreadResult()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg")))
            {
                string want = RunOnce(image);
                var got = new string[2];
                var errors = new Exception[2];
                var threads = new Thread[2];
                for (int i = 0; i < 2; ++i)
                {
                    int k = i;
                    threads[k] = new Thread(() =>
                    {
                        try { got[k] = RunOnce(image); }
                        catch (Exception e) { errors[k] = e; }
                    });
                }
                foreach (Thread t in threads) t.Start();
                foreach (Thread t in threads) t.Join();
                for (int i = 0; i < 2; ++i)
                {
                    Assert.IsNull(errors[i], errors[i] == null ? "" : errors[i].ToString());
                    Assert.AreEqual(want, got[i]);
                }
            }
        }

        [Test]
        public void ASessionUsedFromTwoThreadsReportsBusy()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
            using (Session s = Golden.Model.CreateSession())
            using (TaskStream stream = s.VqaStream(image, "first?", Golden.Greedy(8)))
            {
                Exception other = null;
                var t = new Thread(() =>
                {
                    try { s.Vqa(image, "second?"); }
                    catch (Exception e) { other = e; }
                });
                t.Start();
                t.Join();
                Assert.IsInstanceOf<M4cxrException>(other);
                Assert.AreEqual(Status.Busy, ((M4cxrException)other).Status);
                Assert.IsNotNull(stream.Result.Text);
            }
        }

        // ---- disposal from any thread at any time (the C library defers frees; the binding
        // holds no locks of its own)

        private static GenerationOptions Long()
        {
            return new GenerationOptions { MaxNewTokens = 400, DoSample = true, Seed = 7 };
        }

        [Test]
        public void DisposingASessionWhileAnotherThreadStreamsStopsItsTask()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
            {
                Session s = Golden.Model.CreateSession();
                int pieces = 0;
                Exception error = null;
                using (TaskStream stream = s.ChatStream("Describe.", image, Long()))
                {
                    try
                    {
                        foreach (string piece in stream)
                        {
                            if (++pieces == 2)
                            {
                                var t = new Thread(() => s.Dispose());
                                t.Start();
                                t.Join();
                            }
                        }
                    }
                    catch (M4cxrException e)
                    {
                        error = e;
                    }
                    // the task stopped: either the stream ended (cancelled) or its next call was
                    // refused because its session is gone
                    Console.WriteLine("session disposed mid-stream after {0} pieces: {1}", pieces, error == null ? "stream ended" : error.Message);
                    if (error != null) Assert.AreEqual(Status.InvalidHandle, ((M4cxrException)error).Status, error.Message);
                    Assert.GreaterOrEqual(pieces, 2);
                    Assert.Less(pieces, 60);
                }
                Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => s.Reset()).Status);
                s.Dispose();  // again: fine
            }
        }

        [Test]
        public void DisposingASessionWhileAnotherThreadIsInsideACall()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
            {
                for (int round = 0; round < 5; ++round)
                {
                    Session s = Golden.Model.CreateSession();
                    Exception error = null;
                    Result result = null;
                    var started = new ManualResetEventSlim();
                    var worker = new Thread(() =>
                    {
                        try
                        {
                            using (TaskStream stream = s.ChatStream("Describe.", image, Long()))
                            {
                                started.Set();
                                result = stream.Result;  // inside m4cxr_task_next when the session goes
                            }
                        }
                        catch (Exception e)
                        {
                            error = e;
                        }
                        finally
                        {
                            started.Set();
                        }
                    });
                    worker.Start();
                    started.Wait();
                    Thread.Sleep(20 * round);
                    s.Dispose();
                    Assert.IsTrue(worker.Join(60000), "the task did not stop");
                    Console.WriteLine("round {0}: {1}", round, error != null ? error.Message :
                                      string.Format("{0} tokens, cancelled {1}", result.Stats.GeneratedTokens, result.Stats.Cancelled));
                    if (error != null)
                    {
                        Assert.IsInstanceOf<M4cxrException>(error, error.ToString());
                        Assert.AreEqual(Status.InvalidHandle, ((M4cxrException)error).Status, error.Message);
                    }
                    else
                    {
                        Assert.IsTrue(result.Stats.Cancelled || result.Stats.StoppedByEos);
                    }
                }
            }
        }

        [Test]
        public void DisposingAStreamFromAnotherThreadFreesTheSessionForTheNextTask()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
            using (Session s = Golden.Model.CreateSession())
            {
                TaskStream stream = s.ChatStream("Describe.", image, Long());
                int pieces = 0;
                try
                {
                    foreach (string piece in stream)
                    {
                        if (++pieces == 2)
                        {
                            var t = new Thread(() => stream.Dispose());
                            t.Start();
                            t.Join();
                        }
                    }
                    Assert.Fail("a disposed stream goes on");
                }
                catch (ObjectDisposedException)
                {
                }
                Assert.AreEqual(2, pieces);
                Assert.IsNotNull(s.Vqa(image, "ok?", Golden.Greedy(2)).Text);  // the freed task left the session free
            }
        }

        [Test]
        public void DisposingTheModelAndImageWhileAnotherThreadRunsATask()
        {
            string want;
            using (Image reference = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg"))) want = RunOnce(reference);
            Model m = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 });
            Image image = m.Image(Golden.ImagePath("rgb_150x200.jpg"));
            Session s = m.CreateSession();
            string got = null;
            Exception error = null;
            using (var started = new ManualResetEventSlim())
            {
                var worker = new Thread(() =>
                {
                    try
                    {
                        using (TaskStream stream = s.ReportStream(image, Golden.Greedy(10)))
                        {
                            started.Set();
                            Result r = stream.Result;
                            got = string.Join("|", r.Findings) + "\n" + r.Turns[0] + "\n" + r.Text;
                        }
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }
                    finally
                    {
                        started.Set();
                    }
                });
                worker.Start();
                started.Wait();
                // the task keeps the image's pixels and the session the model's weights
                image.Dispose();
                m.Dispose();
                worker.Join();
            }
            Assert.IsNull(error, error == null ? "" : error.ToString());
            Assert.AreEqual(want, got);
            // a new task on the session still runs; a new image of the disposed model does not
            Assert.AreEqual(Status.InvalidHandle, Assert.Throws<M4cxrException>(() => m.Image(Golden.ImagePath("rgb_150x200.jpg"))).Status);
            var e2 = Assert.Throws<M4cxrException>(() => s.Vqa(image, "ok?", Golden.Greedy(2)));
            Assert.That(e2.Status == Status.InvalidHandle || e2.Status == Status.InvalidArgument, e2.Status + ": " + e2.Message);
            s.Dispose();
        }

        [Test]
        public void ObjectsFreedInEveryOrder()
        {
            // model, image, session, stream disposed in all 24 orders (also from finalizers below)
            int[][] orders = Permutations(new[] { 0, 1, 2, 3 }).ToArray();
            Assert.AreEqual(24, orders.Length);
            foreach (int[] order in orders)
            {
                Model m = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 });
                Image im = m.Image(Golden.ImagePath("gray8_70x70.png"));
                Session s = m.CreateSession();
                TaskStream t = s.VqaStream(im, "ok?", Golden.Greedy(2));
                IDisposable[] objects = { m, im, s, t };
                foreach (int i in order) objects[i].Dispose();
            }
            for (int k = 0; k < 3; ++k)
            {
                Model m = Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 });
                Session s = m.CreateSession();
                TaskStream t = s.VqaStream(m.Image(Golden.ImagePath("gray8_70x70.png")), "ok?", Golden.Greedy(2));
                foreach (string piece in t) break;
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        private static System.Collections.Generic.IEnumerable<int[]> Permutations(int[] items)
        {
            if (items.Length <= 1)
            {
                yield return items;
                yield break;
            }
            for (int i = 0; i < items.Length; ++i)
            {
                int[] rest = items.Where((x, k) => k != i).ToArray();
                foreach (int[] p in Permutations(rest)) yield return new[] { items[i] }.Concat(p).ToArray();
            }
        }
    }
}
