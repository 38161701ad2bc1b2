using System;
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
    }
}
