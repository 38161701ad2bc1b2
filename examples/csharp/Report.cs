// Streams a chain-of-thought report for one chest X-ray through the C# binding.
// Usage: mono Report.exe MODEL_DIR IMAGE [MAX_NEW_TOKENS]   (Ctrl+C stops the generation)
using System;
using System.Threading;
using M4cxr;

static class ReportExample
{
    static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: Report.exe MODEL_DIR IMAGE [MAX_NEW_TOKENS]");
            return 2;
        }
        var options = new GenerationOptions();
        if (args.Length > 2) options.MaxNewTokens = int.Parse(args[2]);
        using (var stop = new CancellationTokenSource())
        {
            Console.CancelKeyPress += (s, e) => { e.Cancel = true; stop.Cancel(); };
            try
            {
                using (Model model = Model.Load(args[0]))
                using (Image image = model.Image(args[1]))
                using (Session session = model.CreateSession())
                using (TaskStream stream = session.ReportStream(image, options, stop.Token))
                {
                    int lastTurn = -1;
                    foreach (string piece in stream)
                    {
                        if (stream.Turn != lastTurn)
                        {
                            Console.Write(stream.Turn == 0 ? "Findings: " : "\nReport: ");
                            lastTurn = stream.Turn;
                        }
                        Console.Write(piece);
                    }
                    Result result = stream.Result;
                    Console.WriteLine("\n\n{0} finding(s): {1}", result.Findings.Count, string.Join(", ", result.Findings));
                    Console.Error.WriteLine("{0} generated tokens, image {1:F0} ms, prefill {2:F0} ms, decode {3:F0} ms{4}",
                                            result.Stats.GeneratedTokens, result.Stats.ImageEncodeMs, result.Stats.PrefillMs,
                                            result.Stats.DecodeMs, result.Stats.Cancelled ? " (cancelled)" : "");
                }
            }
            catch (M4cxrException e)
            {
                Console.Error.WriteLine("m4cxr error ({0}): {1}", e.Status, e.Message);
                return 1;
            }
        }
        return 0;
    }
}
