// The typed C# API against an efm-sandbox process: requests and results as objects (no JSON by the
// caller, a path with backslashes and a colon crosses intact), IProgress and CancellationToken,
// callback exceptions as InnerException, NUL refused, strict requests, symbolic result codes,
// Efm.Load by path.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class BoundaryTests
    {
        SandboxProcess sandbox;
        string docs;

        [TestFixtureSetUp]
        public void StartSandbox()
        {
            sandbox = new SandboxProcess("--virus-scan-delay-ms 0");
            docs = Path.Combine(sandbox.Dir, "docs");
            Directory.CreateDirectory(docs);
            File.WriteAllText(Path.Combine(docs, "arkivmelding.xml"), "<arkivmelding/>");
            var big = new byte[4 << 20];
            new Random(11).NextBytes(big);
            // A Windows-looking name: backslashes and a colon must reach the library unharmed.
            File.WriteAllBytes(Path.Combine(docs, "C:\\Arkiv\\vedtak.pdf"), big);
        }

        [TestFixtureTearDown]
        public void StopSandbox() { sandbox.Dispose(); }

        SendRequest Request(string receiver = "910076787")
        {
            return new SendRequest(receiver)
                .Add("arkivmelding.xml", Path.Combine(docs, "arkivmelding.xml"))
                .Add("vedtak.pdf", Path.Combine(docs, "C:\\Arkiv\\vedtak.pdf"));
        }

        ulong DocumentBytes()
        {
            return (ulong)(new FileInfo(Path.Combine(docs, "arkivmelding.xml")).Length
                + new FileInfo(Path.Combine(docs, "C:\\Arkiv\\vedtak.pdf")).Length);
        }

        sealed class Collect : IProgress<TransferProgress>
        {
            public readonly List<TransferProgress> Seen = new List<TransferProgress>();
            public Action<TransferProgress> Then;
            public void Report(TransferProgress value) { Seen.Add(value); if (Then != null) Then(value); }
        }

        [Test]
        public void TypedFlowBetweenTwoOrganisations()
        {
            using (var a = sandbox.ClientFor("910075918"))
            using (var b = sandbox.ClientFor("984661185"))
            {
                var caps = a.LookupCapabilities("984661185");
                Assert.IsTrue(caps.Signed);
                Assert.IsTrue(caps.Items.Count > 0);

                var progress = new Collect();
                var request = Request("984661185");
                request.TimeToLive = TimeSpan.FromHours(2);
                MessageInfo sent = a.Send(request, progress);
                Assert.AreEqual(MessageStatus.Sendt, sent.Status);
                Assert.AreEqual(Direction.Outgoing, sent.Direction);
                Assert.IsNotNull(sent.Expires);
                var last = progress.Seen[progress.Seen.Count - 1];
                Assert.AreEqual(TransferPhase.Uploading, last.Phase);
                Assert.IsTrue(last.Total > 0 && last.Done == last.Total);
                // Packing first (document bytes), then uploading (package bytes), never back.
                Assert.AreEqual(TransferPhase.Packing, progress.Seen[0].Phase);
                int switches = 0;
                TransferProgress lastPacked = progress.Seen[0];
                for (int i = 1; i < progress.Seen.Count; i++)
                {
                    var p = progress.Seen[i];
                    if (p.Phase != progress.Seen[i - 1].Phase) switches++;
                    if (p.Phase == TransferPhase.Packing) lastPacked = p;
                    if (p.Phase == progress.Seen[i - 1].Phase) Assert.IsTrue(p.Done >= progress.Seen[i - 1].Done, "done went back at " + p);
                }
                Assert.AreEqual(1, switches, "one switch from packing to uploading");
                Assert.AreEqual(DocumentBytes(), lastPacked.Total);
                Assert.AreEqual(lastPacked.Total, lastPacked.Done);

                for (int i = 0; i < 60 && !b.PollMessages().Received.Contains(sent.MessageId); i++) Thread.Sleep(300);
                IncomingMessage peeked = b.PeekMessage();
                Assert.AreEqual(sent.MessageId, peeked.MessageId);
                Assert.AreEqual(MessageStatus.InnkommendeMottatt, peeked.Status);
                OpenedMessage opened = b.PopMessage(peeked.MessageId, Path.Combine(sandbox.Dir, "inbox"));
                OpenedFile pdf = null;
                foreach (var f in opened.Files) if (f.Name == "vedtak.pdf") pdf = f;
                Assert.IsNotNull(pdf);
                Assert.AreEqual(4 << 20, pdf.Size);
                Assert.IsTrue(File.Exists(pdf.Path));
                StringAssert.Contains("910075918", opened.Signer);
                Assert.AreEqual(MessageStatus.InnkommendeLevert, b.DeleteMessage(peeked.MessageId).Status);
                Assert.IsNull(b.PeekMessage());

                var history = a.StatusHistory(sent.MessageId);
                Assert.AreEqual(MessageStatus.Opprettet, history[0].Status);
                var outgoing = a.Messages(new MessageFilter { Direction = Direction.Outgoing, MessageId = sent.MessageId, Limit = 1 });
                Assert.AreEqual(1, outgoing.Count);
                Assert.AreEqual(sent.MessageId, outgoing[0].MessageId);
                Assert.IsNotNull(a.ExpireMessages());
            }
        }

        [Test]
        public void CancellationTokenStopsTheUpload()
        {
            using (var a = sandbox.ClientFor("910075918"))
            using (var cts = new CancellationTokenSource())
            {
                // A send reports the document bytes packed, then the package bytes uploaded:
                // cancel once the upload has begun, so the package exists and can be resent.
                int reportsAfterCancel = 0;
                var progress = new Collect
                {
                    Then = p =>
                    {
                        if (cts.IsCancellationRequested) reportsAfterCancel++;
                        else if (p.Phase == TransferPhase.Uploading && p.Done > 0) cts.Cancel();
                    }
                };
                var e = Assert.Throws<OperationCanceledException>(() => a.Send(Request(), progress, cts.Token));
                Assert.AreEqual(cts.Token, e.CancellationToken);
                Assert.IsInstanceOf<CancelledException>(e.InnerException);
                Assert.IsTrue(cts.IsCancellationRequested);
                Assert.AreEqual(0, reportsAfterCancel);
                var failed = a.Messages(new MessageFilter { Direction = Direction.Outgoing, Status = MessageStatus.Feil, Limit = 1 });
                Assert.AreEqual(1, failed.Count);
                Assert.AreEqual(MessageStatus.Sendt, a.ResendMessage(failed[0].MessageId).Status);
                // an already cancelled token: nothing is started
                Assert.Throws<OperationCanceledException>(() => a.Send(Request(), null, cts.Token));
            }
        }

        [Test]
        public void CancellingWhilePackingStopsBeforeTheUpload()
        {
            using (var a = sandbox.ClientFor("910075918"))
            using (var cts = new CancellationTokenSource())
            {
                var progress = new Collect { Then = p => { if (p.Phase == TransferPhase.Packing && p.Done > 0) cts.Cancel(); } };
                var request = Request();
                request.MessageId = Guid.NewGuid().ToString();
                Assert.Throws<OperationCanceledException>(() => a.Send(request, progress, cts.Token));
                Assert.IsTrue(progress.Seen.Count > 0);
                Assert.IsTrue(progress.Seen.TrueForAll(p => p.Phase == TransferPhase.Packing), "nothing was uploaded");
                var kept = a.Messages(new MessageFilter { MessageId = request.MessageId });
                Assert.AreEqual(1, kept.Count);
                Assert.AreEqual(MessageStatus.Feil, kept[0].Status);
            }
        }

        [Test]
        public void ProgressExceptionComesBackAsInnerException()
        {
            using (var a = sandbox.ClientFor("910075918"))
            {
                var boom = new InvalidOperationException("from the handler");
                var progress = new Collect { Then = p => { throw boom; } };
                var e = Assert.Throws<CancelledException>(() => a.Send(Request(), progress));
                Assert.AreSame(boom, e.InnerException);
                Assert.AreEqual(ResultCode.Cancelled, e.Result);
                // the raw JSON method's Action callback behaves the same
                var e2 = Assert.Throws<CancelledException>(() => a.Send(Request().ToJson(), (d, t) => { throw boom; }));
                Assert.AreSame(boom, e2.InnerException);
            }
        }

        [Test]
        public void StrictRequestsAndNulAreRefusedWithTheField()
        {
            using (var a = sandbox.ClientFor("910075918"))
            {
                var e = Assert.Throws<InvalidInputException>(() => a.StatusHistory("00000000-0000-4000-8000-000000000000\0x"));
                Assert.AreEqual("message_id", e.Field);
                e = Assert.Throws<InvalidInputException>(() => a.Messages("{\"stauts\":\"LEVERT\"}"));
                Assert.AreEqual("stauts", e.Field);
                Assert.AreEqual(ResultCode.InvalidArgument, e.Result);
                var request = Request();
                request.TimeToLive = TimeSpan.FromDays(365 * 100);
                e = Assert.Throws<InvalidInputException>(() => a.Send(request));
                Assert.AreEqual("ttl_secs", e.Field);
                var notFound = Assert.Throws<StorageException>(() => a.StatusHistory("00000000-0000-4000-8000-000000000000"));
                Assert.AreEqual(ResultCode.NotFound, notFound.Result);
            }
        }

        [Test]
        public void ExceptionsHaveTheUsualConstructors()
        {
            var inner = new IOException("disk");
            var e = new NetworkException("down", inner);
            Assert.AreSame(inner, e.InnerException);
            Assert.AreEqual(ResultCode.Network, e.Result);
            Assert.AreEqual("x", new ConfigException("x").Message);
            Assert.AreEqual(ResultCode.Internal, new EfmException().Result);
            Assert.IsInstanceOf<InvalidInputException>(new CancelledException());
        }

        [Test]
        public void LoadByPath()
        {
            string lib = Path.Combine(Environment.GetEnvironmentVariable("EFM_LIB_DIR"), "libefm.so");
            var missing = Assert.Throws<LibraryLoadException>(() => Efm.Load(Path.Combine(docs, "no-such-libefm.so")));
            StringAssert.Contains("does not exist", missing.Message);
            Efm.Load(lib); // the same library the runtime found: accepted
            Assert.Throws<InvalidOperationException>(() => Efm.Load(Path.Combine(docs, "arkivmelding.xml")));
        }
    }
}
