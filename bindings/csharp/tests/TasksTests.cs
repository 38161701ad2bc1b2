using System;
using System.Collections.Generic;
using System.Json;
using M4cxr.Native;
using NUnit.Framework;

namespace M4cxr.Tests
{
    [TestFixture]
    public class TasksTests
    {
        private const string Sys = "The following is a conversation between a curious human and an AI medical assistant. The assistant gives " +
                                   "helpful, detailed, and polite answers to the user's questions. ";
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

        [Test]
        public void ChatReproducesTheGoldenSinglePromptGeneration()
        {
            JsonValue c = Golden.Manifest["prompts_merged_fp32"]["single"];
            string user = (string)c["user_prompt"];
            const string prefix = "radiology image: <image> ";
            StringAssert.StartsWith(prefix, user);
            Assert.AreEqual("rgb_150x200.jpg", (string)c["images"][0]);
            int maxNew = (int)Golden.Manifest["generation"]["max_new_tokens"];
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Chat(user.Substring(prefix.Length), rgb, Golden.Greedy(maxNew));
                Assert.AreEqual((string)c["generated_text"], r.Text);
                Assert.AreEqual(Sys + user, Golden.User(r, 0));
                JsonValue ids = JsonValue.Parse(r.Json)["turns"][0]["generated_ids"];
                Assert.AreEqual(c["generated_ids"].ToString(), ids.ToString());
                Assert.AreEqual(1, r.Turns.Count);
            }
        }

        // Issue 14: constrained answers always parse; free text is untouched.
        [Test]
        public void ConstrainedAnswersAlwaysParse()
        {
            const string num = "(100|[1-9]?[0-9])";
            string box = "\\[" + num + "," + num + "," + num + "," + num + "\\]";
            string boxes = box + "(, " + box + ")*";
            const string names = "(edema|nodule|pleural effusion)";
            using (Session s = Golden.Model.CreateSession())
            {
                foreach (Image im in new[] { gray, rgb })
                {
                    GenerationOptions g = Golden.Greedy(40);
                    g.Constrained = true;
                    Result r = s.GroundFinding(im, "edema", g);
                    StringAssert.IsMatch("^(Yes\\. " + boxes + "\\.|Not present\\.)$", r.Text);
                    Assert.AreEqual(r.Text.Split('[').Length - 1, r.Boxes.Count);
                    r = s.DetectAbnormalities(im, g);
                    StringAssert.IsMatch("^" + boxes + "\\.$", r.Text);
                    r = s.Classify(im, new List<string> { "edema", "nodule", "pleural effusion" }, g);
                    StringAssert.IsMatch("^(" + names + "(, " + names + ")*\\.|Not found\\.)$", r.Text);
                }
                GenerationOptions c = Golden.Greedy(6);
                c.Constrained = true;
                Assert.AreEqual(s.Vqa(gray, "Is there edema?", Golden.Greedy(6)).Text, s.Vqa(gray, "Is there edema?", c).Text);
            }
            Assert.IsFalse(new GenerationOptions().Constrained);
        }

        // Issue 14: every candidate label gets a score in [0, 1] in the question's order, written
        // ones are the findings; boxes carry a probability; the JSON says the same.
        [Test]
        public void LabelScoresAndBoxProbabilities()
        {
            var labels = new List<string> { "edema", "nodule", "pleural effusion" };
            using (Session s = Golden.Model.CreateSession())
            {
                foreach (Image im in new[] { gray, rgb })
                {
                    GenerationOptions g = Golden.Greedy(40);
                    g.Constrained = true;
                    Result r = s.Classify(im, labels, g);
                    CollectionAssert.AreEqual(labels, r.LabelOrder);
                    JsonValue doc = JsonValue.Parse(r.Json);
                    foreach (string l in labels)
                    {
                        double v = r.LabelScores[l];
                        Assert.That(v, Is.InRange(0.0, 1.0));
                        Assert.AreEqual((double)doc["label_scores"][l], v);
                        Assert.AreEqual(new List<string>(r.Findings).Contains(l), (bool)doc["label_written"][l]);
                    }
                    Result d = s.DetectAbnormalities(im, g);
                    Assert.IsTrue(d.Boxes.Count > 0);
                    for (int i = 0; i < d.Boxes.Count; ++i)
                    {
                        Assert.That(d.Boxes[i].Probability, Is.GreaterThan(0.0).And.LessThanOrEqualTo(1.0));
                        Assert.AreEqual((double)doc_of(d)["boxes"][i]["probability"], d.Boxes[i].Probability);
                    }
                    Assert.AreEqual(0, d.LabelScores.Count);
                }
                Assert.AreEqual(13, s.Report(gray, Golden.Greedy(8)).LabelScores.Count);
            }
        }

        private static JsonValue doc_of(Result r) { return JsonValue.Parse(r.Json); }

        [Test]
        public void LogprobsAreOptInPerTurnAndChangeNoOutput()
        {
            Result off, on;
            using (Session s = Golden.Model.CreateSession())
            {
                off = s.Report(gray, Golden.Greedy(6));
                GenerationOptions g = Golden.Greedy(6);
                g.Logprobs = 3;
                on = s.Report(gray, g);
            }
            Assert.AreEqual(off.Text, on.Text);
            CollectionAssert.AreEqual(off.Turns, on.Turns);
            StringAssert.DoesNotContain("\"tokens\"", off.Json);
            Assert.AreEqual(2, on.Tokens.Count);
            JsonValue jon = JsonValue.Parse(on.Json), joff = JsonValue.Parse(off.Json);
            for (int turn = 0; turn < 2; ++turn)
            {
                Assert.AreEqual(0, off.Tokens[turn].Count);
                JsonValue ids = jon["turns"][turn]["generated_ids"];
                Assert.AreEqual(joff["turns"][turn]["generated_ids"].ToString(), ids.ToString());
                Assert.AreEqual(ids.Count, on.Tokens[turn].Count);
                for (int i = 0; i < ids.Count; ++i)
                {
                    Token t = on.Tokens[turn][i];
                    Assert.AreEqual((int)ids[i], t.Id);
                    Assert.AreEqual((string)jon["turns"][turn]["tokens"][i]["text"], t.Text);
                    Assert.LessOrEqual(t.Logprob, 0.0);
                    Assert.AreEqual(3, t.Top.Count);
                    Assert.AreEqual(t.Logprob, t.Top[0].Logprob);  // greedy: the argmax
                    for (int j = 1; j < 3; ++j) Assert.GreaterOrEqual(t.Top[j - 1].Logprob, t.Top[j].Logprob);
                }
            }
        }

        [Test]
        public void ReportEqualsTheCApiAndIsDeterministic()
        {
            Result a, b;
            using (Session s = Golden.Model.CreateSession()) a = s.Report(gray, Golden.Greedy(12));
            using (Session s = Golden.Model.CreateSession()) b = s.Report(gray, Golden.Greedy(12));
            Assert.AreEqual(2, a.Turns.Count);
            Assert.AreEqual(a.Turns[1], a.Text);
            Assert.AreEqual(a.Text, b.Text);
            CollectionAssert.AreEqual(a.Turns, b.Turns);
            CollectionAssert.AreEqual(a.Findings, b.Findings);
            StringAssert.EndsWith("Findings: enlarged cardiomediastinum, cardiomegaly, lung opacity, lung lesion, edema, consolidation, " +
                                  "pneumonia, atelectasis, pneumothorax, pleural effusion, pleural other, fracture, support devices",
                                  Golden.User(a, 0));
            Assert.AreEqual("Based on the previous conversation, provide a description of the findings in the radiology image.",
                            Golden.User(a, 1));

            // The same input straight through the C API (m4cxr_report + m4cxr_task_run, no managed layer).
            IntPtr raw;
            using (var g = new m4cxr_generation_options())
            {
                g.max_new_tokens = 12;
                Assert.AreEqual(m4cxr_status.M4CXR_OK, Api.m4cxr_session_create(Golden.Model.Handle, out raw));
                using (var session = new SessionHandle(raw))
                {
                    Assert.AreEqual(m4cxr_status.M4CXR_OK, Api.m4cxr_report(session, new[] { gray.Handle }, g, out raw));
                    using (var task = new TaskHandle(raw))
                    {
                        Assert.AreEqual(m4cxr_status.M4CXR_OK, Api.m4cxr_task_run(task));
                        Assert.AreEqual(m4cxr_status.M4CXR_OK, Api.m4cxr_task_result(task, out raw));
                        using (var result = new ResultHandle(raw))
                        {
                            Assert.AreEqual(Api.m4cxr_result_text(result), a.Text);
                            Assert.AreEqual(Api.m4cxr_result_turn_text(result, 0), a.Turns[0]);
                            var findings = new List<string>();
                            for (ulong i = 0; i < Api.m4cxr_result_finding_count(result); ++i) findings.Add(Api.m4cxr_result_finding(result, i));
                            CollectionAssert.AreEqual(findings, a.Findings);
                        }
                    }
                }
            }
            Assert.AreEqual(a.Stats.GeneratedTokens, b.Stats.GeneratedTokens);
            Assert.Greater(a.Stats.ImageEncodeMs, 0);
            Assert.AreEqual(gray.Hash, (string)JsonValue.Parse(a.Json)["replay"]["image_hashes"][0]);
        }

        [Test]
        public void GroundingTakesAndGivesPixelBoxes()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                // a box in: converted from pixels to the model frame in the prompt
                Result r = s.IdentifyRegion(rgb, BoxQuestion.Finding, new double[] { 30, 40, 120, 160 }, Golden.Greedy(4));
                Assert.AreEqual(Sys + "radiology image: <image> Provide a finding name for this region. [20,10,80,90]", Golden.User(r, 0));
                s.Reset();
                r = s.IdentifyRegion(rgb, BoxQuestion.Organ, new double[] { 30, 40, 120, 160, 0, 25, 150, 175 }, Golden.Greedy(4));
                StringAssert.EndsWith("Provide an organ name for this region. [20,10,80,90], [0,0,100,100]", Golden.User(r, 0));
                Assert.Throws<ArgumentException>(() => s.IdentifyRegion(rgb, BoxQuestion.Region, new double[] { 1, 2, 3 }));
                var e = Assert.Throws<M4cxrException>(() => s.IdentifyRegion(rgb, BoxQuestion.Region, new double[] { 10, 10, 5, 5 }));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
            }
            // boxes out: random weights rarely produce boxes; whatever comes must be consistent
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.GroundFinding(rgb, "Nodule", Golden.Greedy(24));
                Assert.AreEqual(Sys + "radiology image: <image> Is nodule present in the radiology image? If so, provide the bounding box coordinates of the region.",
                                Golden.User(r, 0));
                foreach (Box b in r.Boxes)
                {
                    Assert.AreEqual(0, b.ImageIndex);
                    double[] px = rgb.ModelToPixels(new List<int>(b.Model).ToArray());
                    for (int k = 0; k < 4; ++k) Assert.AreEqual(px[k], b.Pixels[k], 1e-9);
                }
            }
        }

        [Test]
        public void Vqa()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.Vqa(rgb, "Is there pleural effusion?", Golden.Greedy(6));
                Assert.AreEqual(Sys + "radiology image: <image> Answer the question. Is there pleural effusion?", Golden.User(r, 0));
                Assert.AreEqual(1, r.Turns.Count);
                Assert.AreEqual(r.Turns[0], r.Text);
                Assert.LessOrEqual(r.Stats.GeneratedTokens, 6);
                var e = Assert.Throws<M4cxrException>(() => s.Vqa(rgb, "sneaky <image> injection"));
                Assert.AreEqual(Status.InvalidArgument, e.Status);
            }
        }

        [Test]
        public void EveryTaskBuildsItsUpstreamPrompt()
        {
            string[] labels = { "Atelectasis", "Cardiomegaly" };
            var cases = new Dictionary<string, KeyValuePair<Func<Session, Result>, string>>
            {
                { "multi-image report", Case(s => s.Report(new[] { rgb, gray }, Golden.Greedy(3)),
                    "radiology images: <image> <image> Which of the following findings are present in the radiology images?") },
                { "classify", Case(s => s.Classify(rgb, labels, Golden.Greedy(3)),
                    "radiology image: <image> Which of the following findings are present in the radiology image? Findings: atelectasis, cardiomegaly") },
                { "classify 13", Case(s => s.Classify(rgb, null, Golden.Greedy(3)),
                    "radiology image: <image> Which of the following findings are present in the radiology image? Findings: enlarged cardiomediastinum,") },
                { "ground findings", Case(s => s.GroundFindings(rgb, labels, Golden.Greedy(3)),
                    "radiology image: <image> Which of the following findings are present in the radiology image? Provide the bounding box coordinates if present. Findings: atelectasis, cardiomegaly") },
                { "detect", Case(s => s.DetectAbnormalities(rgb, Golden.Greedy(3)),
                    "radiology image: <image> Provide the bounding box coordinates of abnormal regions in the radiology image.") },
                { "organ", Case(s => s.GroundOrgan(rgb, "lung", Golden.Greedy(3)),
                    "radiology image: <image> Provide the bounding box coordinates of lung in the radiology image.") },
                { "phrase", Case(s => s.GroundPhrase(rgb, "Small left apical pneumothorax", Golden.Greedy(3)),
                    "radiology image: <image> Provide the bounding box coordinate of the region this phrase describes: Small left apical pneumothorax") },
                { "region", Case(s => s.GroundRegion(rgb, "right lung", Golden.Greedy(3)),
                    "radiology image: <image> Provide the bounding box coordinate of the anatomical region. right lung") },
                { "difference vqa", Case(s => s.DifferenceVqa(rgb, gray, "what has changed?", Golden.Greedy(3)),
                    "reference: <image>, main: <image> Using the provided reference and main radiology images, answer the following question. what has changed?") },
                { "chat without image", Case(s => s.Chat("Hello", options: Golden.Greedy(3)), "Hello") },
            };
            foreach (var c in cases)
            {
                using (Session s = Golden.Model.CreateSession())
                {
                    Result r = c.Value.Key(s);
                    StringAssert.StartsWith(Sys + c.Value.Value, Golden.User(r, 0), c.Key);
                }
            }
        }

        [Test]
        public void ReportFollowupBuildsItsUpstreamPrompt()
        {
            // (was a case of EveryTaskBuildsItsUpstreamPrompt) Fails with libm4cxr 7bc716e: the
            // C layer refuses every follow-up report with "the task expects 1 image(s) but 2 were
            // given" (report_followup puts the current images' markers in the question; the
            // session wants every marker in the image prompt). Not worked around here.
            using (Session s = Golden.Model.CreateSession())
            {
                Result r = s.ReportFollowup(new[] { rgb }, "Heart size is normal.\nNo effusion (small).", new[] { gray }, Golden.Greedy(3));
                StringAssert.StartsWith(Sys + "prior radiology images: <image>, prior radiology report: Heart size is normal. No effusion small. follow-up images: <image>,",
                                        Golden.User(r, 0));
            }
        }

        private static KeyValuePair<Func<Session, Result>, string> Case(Func<Session, Result> run, string user)
        {
            return new KeyValuePair<Func<Session, Result>, string>(run, user);
        }

        [Test]
        public void LaterCallsContinueTheConversationUntilReset()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                s.Report(gray, Golden.Greedy(4));
                // typed tasks start a new conversation unless asked to continue (patient safety)
                Result r = s.GroundPhrase(gray, "left pleural effusion", Golden.Greedy(4).Continuing());
                Assert.AreEqual("Provide the bounding box coordinate of the region this phrase describes: left pleural effusion", Golden.User(r, 0));
                r = s.Chat("Summarise the report in one sentence.", options: Golden.Greedy(4));
                Assert.AreEqual("Summarise the report in one sentence.", Golden.User(r, 0));
                s.Reset();
                r = s.Chat("Hello", options: Golden.Greedy(4));
                Assert.AreEqual(Sys + "Hello", Golden.User(r, 0));
            }
        }

        [Test]
        public void ASessionRunsOneTaskAtATime()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                using (TaskStream first = s.VqaStream(gray, "first?", Golden.Greedy(4)))
                {
                    var e = Assert.Throws<M4cxrException>(() => s.Vqa(gray, "second?"));
                    Assert.AreEqual(Status.Busy, e.Status);
                    StringAssert.Contains("unfinished task", e.Message);
                    Assert.AreEqual(Status.Busy, Assert.Throws<M4cxrException>(() => s.Reset()).Status);
                }
                Assert.IsNotNull(s.Vqa(gray, "second?", Golden.Greedy(2)).Text);  // free again after Dispose
            }
        }

        [Test]
        public void BadArguments()
        {
            using (Session s = Golden.Model.CreateSession())
            {
                Assert.Throws<ArgumentNullException>(() => s.Vqa(null, "q"));
                Assert.Throws<ArgumentNullException>(() => s.Vqa(rgb, null));
                Assert.Throws<ArgumentNullException>(() => s.Report(new Image[] { rgb, null }));
                Assert.AreEqual(Status.InvalidArgument, Assert.Throws<M4cxrException>(() => s.Report(new Image[0])).Status);
                Assert.AreEqual(Status.InvalidArgument,
                                Assert.Throws<M4cxrException>(() => s.Report(new[] { rgb, rgb, rgb, rgb, rgb, rgb })).Status);
                Assert.AreEqual(Status.InvalidArgument, Assert.Throws<M4cxrException>(() => s.Chat("")).Status);
                Assert.AreEqual(Status.InvalidArgument, Assert.Throws<M4cxrException>(() => s.Vqa(rgb, "ok?", Golden.Greedy(0))).Status);
                var bad = new GenerationOptions { DoSample = true, Temperature = 0, MaxNewTokens = 2 };
                Assert.AreEqual(Status.InvalidArgument, Assert.Throws<M4cxrException>(() => s.Vqa(rgb, "ok?", bad)).Status);
                Assert.Throws<ArgumentException>(() => s.Vqa(rgb, "nul\0inside"));
                Assert.IsNotNull(s.Vqa(rgb, "ok?", Golden.Greedy(2)).Text);  // still usable
            }
        }
    }
}
