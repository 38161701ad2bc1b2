using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using NUnit.Framework;

namespace M4cxr.Tests
{
    /// <summary>libm4cxr's log messages reach M4cxr.Log (event and TraceSource) on the calling thread.</summary>
    [TestFixture]
    public class LogTests
    {
        private sealed class Seen
        {
            public LogLevel Level;
            public string Text;
            public int Thread;
        }

        private readonly List<Seen> seen = new List<Seen>();

        private void OnMessage(object sender, LogEventArgs e)
        {
            lock (seen) seen.Add(new Seen { Level = e.Level, Text = e.Message, Thread = Thread.CurrentThread.ManagedThreadId });
        }

        private List<string> Texts(LogLevel level)
        {
            lock (seen) return seen.Where(s => s.Level == level).Select(s => s.Text).ToList();
        }

        [SetUp]
        public void Listen()
        {
            Assert.IsNotNull(Golden.Model);  // loaded before the test starts
            lock (seen) seen.Clear();
            Log.Message += OnMessage;
        }

        [TearDown]
        public void Stop()
        {
            Log.Message -= OnMessage;
        }

        [Test]
        public void LoadingTheModelLogsInfoOnTheLoadingThread()
        {
            Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 }).Dispose();
            List<string> info = Texts(LogLevel.Info);
            Assert.IsTrue(info.Any(m => m.StartsWith("loading model '" + Golden.ModelDir + "'")), string.Join("\n", info));
            Assert.IsTrue(info.Any(m => m.StartsWith("model loaded in ")), string.Join("\n", info));
            lock (seen)
                foreach (Seen s in seen) Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, s.Thread);
        }

        [Test]
        public void AnErrorIsLoggedWithTheExceptionsText()
        {
            var e = Assert.Throws<M4cxrException>(() => Model.Load("/nonexistent/model"));
            CollectionAssert.AreEqual(new[] { e.Message }, Texts(LogLevel.Error));
        }

        [Test]
        public void ATaskOnAnotherThreadLogsDebugThere()
        {
            int id = 0;
            Exception failure = null;
            var t = new Thread(() =>
            {
                id = Thread.CurrentThread.ManagedThreadId;
                try
                {
                    using (Image im = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
                    using (Session s = Golden.Model.CreateSession())
                        s.Vqa(im, "Is there edema?", Golden.Greedy(2));
                }
                catch (Exception e) { failure = e; }
            });
            t.Start();
            t.Join();
            Assert.IsNull(failure, failure == null ? "" : failure.ToString());
            List<string> debug = Texts(LogLevel.Debug);
            Assert.IsTrue(debug.Any(m => m.StartsWith("task vqa started: 1 new image(s), 1 turn(s)")), string.Join("\n", debug));
            Assert.IsTrue(debug.Any(m => m.StartsWith("task vqa finished after 1 turn(s)")), string.Join("\n", debug));
            Assert.IsFalse(debug.Any(m => m.Contains("edema")));  // no prompt text
            lock (seen)
                foreach (Seen s in seen) Assert.AreEqual(id, s.Thread);
        }

        private sealed class Collect : TraceListener
        {
            public readonly List<string> Lines = new List<string>();
            public override void Write(string message) { }
            public override void WriteLine(string message) { }
            public override void TraceEvent(TraceEventCache cache, string source, TraceEventType type, int id, string message)
            {
                lock (Lines) Lines.Add(source + " " + type + " " + message);
            }

        }

        [Test]
        public void TheTraceSourceGetsWhatItsSwitchLetsThrough()
        {
            var listener = new Collect();
            SourceLevels level = Log.Source.Switch.Level;
            Assert.AreEqual("m4cxr", Log.Source.Name);
            Log.Source.Listeners.Add(listener);
            try
            {
                Log.Source.Switch.Level = SourceLevels.Warning;
                Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 }).Dispose();
                var e = Assert.Throws<M4cxrException>(() => Model.Load("/nonexistent/model"));
                CollectionAssert.AreEqual(new[] { "m4cxr Error " + e.Message }, listener.Lines);  // no Information
                Log.Source.Switch.Level = SourceLevels.Information;
                Model.Load(Golden.ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 }).Dispose();
                Assert.IsTrue(listener.Lines.Any(l => l.StartsWith("m4cxr Information model loaded in ")));
            }
            finally
            {
                Log.Source.Listeners.Remove(listener);
                Log.Source.Switch.Level = level;
            }
        }

        [Test]
        public void AThrowingHandlerDoesNotBreakTheCall()
        {
            EventHandler<LogEventArgs> boom = (s, e) => { throw new InvalidOperationException("handler failed"); };
            Log.Message += boom;
            try
            {
                using (Image im = Golden.Model.Image(Golden.ImagePath("gray8_70x70.png")))
                using (Session s = Golden.Model.CreateSession())
                    Assert.AreEqual(1, s.Vqa(im, "Is there edema?", Golden.Greedy(1)).Turns.Count);
                var e = Assert.Throws<M4cxrException>(() => Model.Load("/nonexistent/model"));
                Assert.AreEqual(Status.Io, e.Status);  // the call's own error, not the handler's
            }
            finally
            {
                Log.Message -= boom;
            }
        }

        [Test]
        public void TheDelegateSurvivesGarbageCollection()
        {
            for (int i = 0; i < 3; ++i)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            Assert.Throws<M4cxrException>(() => Model.Load("/nonexistent/model"));
            Assert.AreEqual(1, Texts(LogLevel.Error).Count);
        }
    }
}
