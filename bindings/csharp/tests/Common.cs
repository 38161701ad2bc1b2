// Shared fixtures of the C# binding tests: the golden data folder, its manifest and one
// float32 model (greedy outputs then equal the goldens).
using System;
using System.Collections.Generic;
using System.IO;
using System.Json;
using System.Threading;

namespace M4cxr.Tests
{
    internal static class Golden
    {
        private static readonly Lazy<JsonValue> manifest =
            new Lazy<JsonValue>(() => JsonValue.Parse(File.ReadAllText(Path.Combine(Dir, "manifest.json"))));
        private static readonly Lazy<Model> model = new Lazy<Model>(
            () => Model.Load(ModelDir, new ModelOptions { DType = DType.Float32, Threads = 2 }),
            LazyThreadSafetyMode.ExecutionAndPublication);

        /// <summary>M4CXR_GOLDEN_DIR, default &lt;repo&gt;/tests/data/golden.</summary>
        public static string Dir
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("M4CXR_GOLDEN_DIR");
                return string.IsNullOrEmpty(env) ? Path.Combine(TestConfig.SourceDir, "tests", "data", "golden") : env;
            }
        }

        public static string ModelDir { get { return Path.Combine(Dir, "models", "merged_fp32"); } }
        public static string ImagePath(string name) { return Path.Combine(Dir, "images", name); }
        public static JsonValue Manifest { get { return manifest.Value; } }

        /// <summary>One model for the whole process (never disposed: the process ends).</summary>
        public static Model Model { get { return model.Value; } }

        public static GenerationOptions Greedy(int maxNewTokens) { return GenerationOptions.Greedy(maxNewTokens); }

        /// <summary>The user message of turn <paramref name="turn"/> from a result's JSON.</summary>
        public static string User(Result r, int turn) { return (string)JsonValue.Parse(r.Json)["turns"][turn]["user"]; }

        /// <summary>The prompt ids of turn <paramref name="turn"/> (the whole prompt of that turn) from a result's JSON.</summary>
        public static List<long> PromptIds(Result r, int turn) { return Ids(r, turn, "prompt_ids"); }

        /// <summary>The generated ids of turn <paramref name="turn"/> from a result's JSON.</summary>
        public static List<long> GeneratedIds(Result r, int turn) { return Ids(r, turn, "generated_ids"); }

        private static List<long> Ids(Result r, int turn, string key)
        {
            var ids = new List<long>();
            foreach (JsonValue v in (JsonArray)JsonValue.Parse(r.Json)["turns"][turn][key]) ids.Add((long)v);
            return ids;
        }
    }
}
