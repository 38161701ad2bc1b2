using System;
using System.IO;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class LeakTests
    {
        private static long ResidentBytes()
        {
            // /proc/self/statm: size resident shared ... in pages
            string[] f = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(f[1]) * Environment.SystemPageSize;
        }

        private static void Settle()
        {
            for (int i = 0; i < 3; ++i)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }

        private static void Cycle(byte[] png, bool dispose)
        {
            // a 640x512 image (~1 MB decoded), a session with its KV cache, a task and a result
            Image image = Golden.Model.Image(png);
            Session s = Golden.Model.CreateSession();
            TaskStream stream = s.VqaStream(image, "Is there pleural effusion?", Golden.Greedy(1));
            foreach (string piece in stream) { }
            Assert.IsNotNull(stream.Result.Json);
            if (dispose)
            {
                stream.Dispose();
                s.Dispose();
                image.Dispose();
            }
        }

        [Test]
        public void TwoHundredDisposedCyclesDoNotLeak()
        {
            byte[] png = File.ReadAllBytes(Golden.ImagePath("rgb_640x512.png"));
            for (int i = 0; i < 10; ++i) Cycle(png, true);  // warm-up: allocator pools, JIT
            Settle();
            long before = ResidentBytes();
            for (int i = 0; i < 200; ++i) Cycle(png, true);
            Settle();
            long growth = ResidentBytes() - before;
            Console.WriteLine("RSS growth over 200 disposed cycles: {0:F1} MB", growth / 1048576.0);
            Assert.Less(growth, 24L << 20, "native memory grows with create/dispose cycles");
        }

        [Test]
        public void AbandonedObjectsAreFreedByTheFinalizers()
        {
            // Nothing disposed: the SafeHandles' finalizers free the task, the session and the
            // image in any order (the C library keeps what a later free still needs).
            byte[] png = File.ReadAllBytes(Golden.ImagePath("rgb_640x512.png"));
            for (int i = 0; i < 10; ++i) Cycle(png, false);
            Settle();
            long before = ResidentBytes();
            for (int i = 0; i < 100; ++i)
            {
                Cycle(png, false);
                if (i % 25 == 0) Settle();
            }
            Settle();
            long growth = ResidentBytes() - before;
            Console.WriteLine("RSS growth over 100 abandoned cycles: {0:F1} MB", growth / 1048576.0);
            Assert.Less(growth, 24L << 20, "finalized handles do not free their native objects");
        }

        [Test]
        public void ModelLoadAndDisposeCycles()
        {
            for (int i = 0; i < 5; ++i) Model.Load(Golden.ModelDir).Dispose();
            Settle();
            long before = ResidentBytes();
            for (int i = 0; i < 30; ++i)
            {
                using (Model m = Model.Load(Golden.ModelDir))
                using (Session s = m.CreateSession()) { }
            }
            Settle();
            long growth = ResidentBytes() - before;
            Console.WriteLine("RSS growth over 30 model loads: {0:F1} MB", growth / 1048576.0);
            Assert.Less(growth, 24L << 20);
        }
    }
}
