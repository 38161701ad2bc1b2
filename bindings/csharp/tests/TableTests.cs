// The generated task methods agree with the task table of the LOADED library
// (m4cxr_task_table_json), checked by reflection over Session: every task has its method
// and its streaming method, parameters in table order, named in camelCase, with the
// table's types and defaults, followed by the per-call options and a CancellationToken.
using System;
using System.Collections.Generic;
using System.Json;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class TableTests
    {
        private static string Pascal(string snake)
        {
            var b = new StringBuilder();
            foreach (string w in snake.Split('_')) b.Append(char.ToUpperInvariant(w[0])).Append(w.Substring(1));
            return b.ToString();
        }

        private static string Camel(string snake)
        {
            string p = Pascal(snake);
            return char.ToLowerInvariant(p[0]) + p.Substring(1);
        }

        private static string Snake(string pascal)
        {
            var b = new StringBuilder();
            for (int i = 0; i < pascal.Length; ++i)
            {
                if (char.IsUpper(pascal[i]) && i > 0) b.Append('_');
                b.Append(char.ToLowerInvariant(pascal[i]));
            }
            return b.ToString();
        }

        private static readonly Dictionary<string, Type> Types = new Dictionary<string, Type>
        {
            { "image", typeof(Image) },
            { "images", typeof(IList<Image>) },
            { "text", typeof(string) },
            { "texts", typeof(IList<string>) },
            { "boxes", typeof(double[]) },
            { "flag", typeof(bool) },
        };

        /// <summary>Everything that disagrees between one task's declaration and the method
        /// `name` of Session (empty: they agree).</summary>
        internal static List<string> Disagreements(JsonValue task, string name, Type returns)
        {
            var errors = new List<string>();
            JsonArray args = (JsonArray)task["args"];
            MethodInfo m = typeof(Session).GetMethods(BindingFlags.Public | BindingFlags.Instance)
                .Where(x => x.Name == name)
                .FirstOrDefault(x =>
                {
                    ParameterInfo[] ps = x.GetParameters();
                    return ps.Length == args.Count + 2 && ps[ps.Length - 2].ParameterType == typeof(GenerationOptions) &&
                           ps[ps.Length - 1].ParameterType == typeof(CancellationToken);
                });
            if (m == null)
            {
                errors.Add(name + ": no method with the table's " + args.Count + " argument(s) then (options, cancellation)");
                return errors;
            }
            if (m.ReturnType != returns) errors.Add(name + ": returns " + m.ReturnType.Name + ", not " + returns.Name);
            ParameterInfo[] p = m.GetParameters();
            for (int i = 0; i < args.Count; ++i)
            {
                JsonValue a = args[i];
                string argName = (string)a["name"], type = (string)a["type"];
                string where = name + " parameter " + i + " (" + argName + ")";
                if (p[i].Name != Camel(argName)) errors.Add(where + ": named " + p[i].Name + ", not " + Camel(argName));
                // the type
                if (type == "choice")
                {
                    var choices = ((JsonArray)a["choices"]).Select(c => (string)c).ToList();
                    Type t = p[i].ParameterType;
                    if (t.IsEnum)
                    {
                        var members = Enum.GetNames(t).Select(Snake).ToList();
                        if (!members.SequenceEqual(choices))
                            errors.Add(where + ": enum " + t.Name + " has " + string.Join("|", members) + ", the table " + string.Join("|", choices));
                    }
                    else if (t != typeof(string))
                        errors.Add(where + ": a choice is a string or an enum, not " + t.Name);
                }
                else if (!Types.ContainsKey(type))
                    errors.Add(where + ": unknown table type " + type + " (update this test)");
                else if (p[i].ParameterType != Types[type])
                    errors.Add(where + ": type " + p[i].ParameterType.Name + ", not " + Types[type].Name);
                // optional with the table's default
                bool optional = a.ContainsKey("default");
                if (p[i].IsOptional != optional)
                    errors.Add(where + (optional ? ": not optional, the table has a default" : ": optional, the table has no default"));
                else if (optional)
                {
                    object have = p[i].DefaultValue;
                    JsonValue want = a["default"];
                    bool same;
                    if (want.JsonType == JsonType.Array) same = have == null && ((JsonArray)want).Count == 0;
                    else if (want.JsonType == JsonType.Boolean) same = have is bool && (bool)have == (bool)want;
                    else if (want.JsonType == JsonType.String)
                        same = have is string ? (string)have == (string)want
                             : have != null && p[i].ParameterType.IsEnum && Snake(Enum.GetName(p[i].ParameterType, have)) == (string)want;
                    else same = false;
                    if (!same) errors.Add(where + ": default " + (have ?? "null") + ", the table " + want);
                }
            }
            ParameterInfo o = p[args.Count], ct = p[args.Count + 1];
            if (o.Name != "options" || !o.IsOptional || o.DefaultValue != null) errors.Add(name + ": options is not `GenerationOptions options = null`");
            if (ct.Name != "cancellation" || !ct.IsOptional) errors.Add(name + ": cancellation is not an optional CancellationToken");
            return errors;
        }

        private static JsonArray LibraryTasks()
        {
            string json = Model.TaskTableJson;
            Assert.IsNotNullOrEmpty(json);
            return (JsonArray)JsonValue.Parse(json)["tasks"];
        }

        [Test]
        public void EveryTaskOfTheLibraryHasItsMethodsWithTheTableSignature()
        {
            JsonArray tasks = LibraryTasks();
            Assert.Greater(tasks.Count, 10);
            var errors = new List<string>();
            foreach (JsonValue t in tasks)
            {
                string name = Pascal((string)t["name"]);
                errors.AddRange(Disagreements(t, name, typeof(Result)));
                errors.AddRange(Disagreements(t, name + "Stream", typeof(TaskStream)));
            }
            Assert.IsEmpty(errors, string.Join("\n", errors));
        }

        [Test]
        public void TheCheckFindsAMissingOrDisagreeingMethod()
        {
            // the check itself: a task the binding does not have, and declarations that disagree
            // with the methods the binding has
            var missing = JsonValue.Parse("{\"name\": \"ground_device\", \"args\": [{\"name\": \"image\", \"type\": \"image\"}]}");
            Assert.IsNotEmpty(Disagreements(missing, "GroundDevice", typeof(Result)));
            var organ = JsonValue.Parse("{\"name\": \"ground_organ\", \"args\": [{\"name\": \"image\", \"type\": \"image\"}," +
                                        "{\"name\": \"organ\", \"type\": \"text\", \"default\": \"lung\"}]}");
            Assert.IsEmpty(Disagreements(organ, "GroundOrgan", typeof(Result)));
            var otherDefault = JsonValue.Parse("{\"name\": \"ground_organ\", \"args\": [{\"name\": \"image\", \"type\": \"image\"}," +
                                               "{\"name\": \"organ\", \"type\": \"text\", \"default\": \"heart\"}]}");
            StringAssert.Contains("default", string.Join("\n", Disagreements(otherDefault, "GroundOrgan", typeof(Result))));
            var swapped = JsonValue.Parse("{\"name\": \"difference_vqa\", \"args\": [{\"name\": \"main\", \"type\": \"image\"}," +
                                          "{\"name\": \"reference\", \"type\": \"image\"}, {\"name\": \"question\", \"type\": \"text\"}]}");
            StringAssert.Contains("named", string.Join("\n", Disagreements(swapped, "DifferenceVqa", typeof(Result))));
            var choice = JsonValue.Parse("{\"name\": \"identify_region\", \"args\": [{\"name\": \"image\", \"type\": \"image\"}," +
                                         "{\"name\": \"what\", \"type\": \"choice\", \"choices\": [\"finding\", \"organ\"]}," +
                                         "{\"name\": \"boxes\", \"type\": \"boxes\"}]}");
            StringAssert.Contains("enum", string.Join("\n", Disagreements(choice, "IdentifyRegion", typeof(Result))));
        }

        [Test]
        public void OptionalArgumentsTakeTheTableDefaults()
        {
            // organ: "lung" in the table; C# used to throw when it was missing
            using (Image image = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg")))
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.GroundOrgan(image, options: Golden.Greedy(2));
                StringAssert.EndsWith("Provide the bounding box coordinates of lung in the radiology image.", Golden.User(r, 0));
                r = s.GroundOrgan(image, null, Golden.Greedy(2));
                StringAssert.EndsWith("Provide the bounding box coordinates of lung in the radiology image.", Golden.User(r, 0));
                r = s.GroundOrgan(image, "heart", Golden.Greedy(2));
                StringAssert.EndsWith("Provide the bounding box coordinates of heart in the radiology image.", Golden.User(r, 0));
                // plural_wording (new in the table) comes with the generated method
                r = s.Report(new[] { image }, pluralWording: true, options: Golden.Greedy(2));
                StringAssert.Contains("radiology images: <image> Which of the following findings are present in the radiology images?",
                                      Golden.User(r, 0));
                r = s.Report(new[] { image }, Golden.Greedy(2));  // the options positionally, as before plural_wording
                StringAssert.Contains("radiology image: <image> Which of the following findings are present in the radiology image?",
                                      Golden.User(r, 0));
            }
        }

        [Test]
        public void AnyTaskByName()
        {
            using (Image image = Golden.Model.Image(Golden.ImagePath("rgb_150x200.jpg")))
            using (Session a = Golden.Model.CreateSession())
            using (Session b = Golden.Model.CreateSession())
            {
                Result byName;
                using (TaskStream t = a.StartTask("vqa", new Dictionary<string, object> { { "image", image }, { "question", "Is there pleural effusion?" } },
                                                  Golden.Greedy(4)))
                    byName = t.Result;
                Result typed = b.Vqa(image, "Is there pleural effusion?", Golden.Greedy(4));
                Assert.AreEqual(typed.Text, byName.Text);
                Assert.AreEqual(Golden.User(typed, 0), Golden.User(byName, 0));
                Assert.AreEqual(Golden.PromptIds(typed, 0), Golden.PromptIds(byName, 0));
                var e = Assert.Throws<M4cxrException>(() => a.StartTask("no_such_task", null));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
                StringAssert.Contains("no_such_task", e.Message);
                e = Assert.Throws<M4cxrException>(() => a.StartTask("vqa", new Dictionary<string, object> { { "image", image } }));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
                StringAssert.Contains("question", e.Message);
            }
        }
    }
}
