// The whole DPO flow through the C# binding, between two organisations on an efm-sandbox process.
using System;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class FlowTests
    {
        SandboxProcess sandbox;
        string dir;

        [TestFixtureSetUp]
        public void StartSandbox()
        {
            sandbox = new SandboxProcess("--virus-scan-delay-ms 0");
            dir = sandbox.Dir;
        }

        [TestFixtureTearDown]
        public void StopSandbox() { sandbox.Dispose(); }

        Client For(string orgnr) { return sandbox.ClientFor(orgnr); }

        static string Field(string json, string name)
        {
            var m = Regex.Match(json, "\"" + name + "\":\"([^\"]*)\"");
            Assert.IsTrue(m.Success, name + " in " + json);
            return m.Groups[1].Value;
        }

        static void PollUntil(Client c, Func<string, bool> done, string what)
        {
            for (int i = 0; i < 60; i++)
            {
                if (done(c.Poll())) return;
                Thread.Sleep(300);
            }
            Assert.Fail(what + " did not happen in time");
        }

        [Test]
        public void SendReceiveDeleteAndLevert()
        {
            string docs = Path.Combine(dir, "docs");
            Directory.CreateDirectory(docs);
            File.WriteAllText(Path.Combine(docs, "arkivmelding.xml"), "<arkivmelding/>");
            var pdf = new byte[300000];
            new Random(7).NextBytes(pdf);
            File.WriteAllBytes(Path.Combine(docs, "brev.pdf"), pdf);
            string request = "{\"receiver\":\"910076787\",\"documents\":[" +
                "{\"name\":\"arkivmelding.xml\",\"path\":\"" + Path.Combine(docs, "arkivmelding.xml") + "\"}," +
                "{\"name\":\"brev.pdf\",\"path\":\"" + Path.Combine(docs, "brev.pdf") + "\"}]}";

            using (var a = For("910075918"))
            using (var b = For("910076787"))
            {
                ulong lastDone = 0, lastTotal = 0;
                string sent = a.Send(request, (done, total) => { lastDone = done; lastTotal = total; });
                Assert.AreEqual("SENDT", Field(sent, "status"));
                Assert.IsTrue(lastTotal > 0 && lastDone == lastTotal);
                string id = Field(sent, "message_id");
                // The broker fails the next look at the transfer once: RunDueWork follows it (nothing
                // is left to upload) and reports the message as retrying, with its attempt and the error.
                sandbox.Fault("/broker/api/v1/filetransfer/" + Field(sent, "transfer_id"), 503, "GET");
                WorkSummary due = a.RunDueWork();
                Assert.AreEqual(0, due.WaitingUploads);
                CollectionAssert.IsEmpty(due.Failed);
                CollectionAssert.IsEmpty(due.Sent);
                Assert.AreEqual(1, due.Retrying.Count, due.RawJson);
                Assert.AreEqual(id, due.Retrying[0].MessageId);
                Assert.GreaterOrEqual(due.Retrying[0].Attempts, 1);
                StringAssert.Contains("503", due.Retrying[0].Error);
                StringAssert.Contains("\"waiting_uploads\":0", a.RunDue()); // the raw JSON stays

                PollUntil(b, s => s.Contains(id), "delivery");
                string peeked = b.Peek();
                Assert.AreEqual(id, Field(peeked, "message_id"));
                string inbox = Path.Combine(dir, "inbox");
                b.Pop(id, inbox);
                CollectionAssert.AreEqual(pdf, File.ReadAllBytes(Path.Combine(inbox, "brev.pdf")));
                b.Delete(id);
                Assert.IsNull(b.Peek());

                PollUntil(a, s => a.Status(id).Contains("\"LEVERT\""), "LEVERT back");
                string history = a.Status(id);
                Assert.Less(history.IndexOf("\"OPPRETTET\""), history.IndexOf("\"SENDT\""));
                Assert.Less(history.IndexOf("\"MOTTATT\""), history.IndexOf("\"LEVERT\""));
            }
        }

        [Test]
        public void AMessageThatCannotBeOpenedIsQuarantinedAndManaged()
        {
            string docs = Path.Combine(dir, "docs-q");
            Directory.CreateDirectory(docs);
            File.WriteAllText(Path.Combine(docs, "arkivmelding.xml"), "<arkivmelding/>");
            string request = "{\"receiver\":\"910076787\",\"documents\":[" +
                "{\"name\":\"arkivmelding.xml\",\"path\":\"" + Path.Combine(docs, "arkivmelding.xml") + "\"}]}";
            using (var a = For("910075918"))
            using (var b = For("910076787"))
            {
                string id = Field(a.Send(request), "message_id");
                PollUntil(b, s => s.Contains(id), "delivery");
                string package = Field(b.Peek(), "payload");
                var bytes = File.ReadAllBytes(package);
                bytes[bytes.Length / 2] ^= 0x55;
                File.WriteAllBytes(package, bytes);
                var e = Assert.Catch<EfmException>(() => b.Pop(id, Path.Combine(dir, "inbox-q")));
                Assert.IsTrue(e is PackageException || e is CryptoException, e.ToString());
                Assert.IsNull(b.Peek());
                StringAssert.Contains("\"UNOPENABLE\"", b.Quarantine()); // the raw JSON stays
                var entries = b.QuarantineEntries();
                Assert.AreEqual(1, entries.Count);
                QuarantineEntry entry = entries[0];
                Assert.AreEqual(QuarantineKind.Unopenable, entry.Kind);
                Assert.AreEqual(id, entry.MessageId);
                Assert.AreEqual("0192:910075918", entry.Sender);
                Assert.AreEqual(bytes.Length, entry.Size);
                Assert.IsNotNull(entry.Payload);
                Assert.IsNotEmpty(entry.Reason);
                string kept = Path.Combine(dir, "kept.zip");
                b.QuarantineExport(entry.Id, kept);
                CollectionAssert.AreEqual(bytes, File.ReadAllBytes(kept));
                RetryOutcome outcome = b.RetryQuarantined(entry.Id);
                Assert.AreEqual(RetryOutcomeKind.Requeued, outcome.Outcome);
                Assert.AreEqual(id, outcome.MessageId);
                Assert.IsNull(outcome.Reason);
                Assert.AreEqual(id, Field(b.Peek(), "message_id"));
                Assert.Catch<EfmException>(() => b.Pop(id, Path.Combine(dir, "inbox-q")));
                entry = b.QuarantineEntries()[0];
                Assert.AreEqual(QuarantineKind.Unopenable, entry.Kind);
                b.QuarantineDelete(entry.Id);
                CollectionAssert.IsEmpty(b.QuarantineEntries());
                Assert.AreEqual("[]", b.Quarantine());
            }
        }

        [Test]
        public void BadRequestJsonIsInvalidInput()
        {
            using (var a = For("910075918"))
            {
                var e = Assert.Throws<InvalidInputException>(() => a.Send("{\"receiver\":"));
                Assert.AreEqual(102u, e.Code);
            }
        }
    }
}
