// Service Registry lookups through the C# binding, against an efm-sandbox process.
using System;
using System.IO;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class LookupTests
    {
        const string Process = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
        SandboxProcess sandbox;

        [TestFixtureSetUp]
        public void StartSandbox() { sandbox = new SandboxProcess(); }

        [TestFixtureTearDown]
        public void StopSandbox() { sandbox.Dispose(); }

        Client NewClient() { return sandbox.ClientFor("910075918"); }

        [Test]
        public void FindsTheReceiversDpoRecord()
        {
            using (var client = NewClient())
            {
                string json = client.Lookup("910076787", Process);
                StringAssert.Contains("\"organisation_number\":\"910076787\"", json);
                StringAssert.Contains("\"signed\":true", json);
                StringAssert.Contains("\"service_identifier\":\"DPO\"", json);
            }
        }

        [Test]
        public void UnknownReceiverIsRemoteServiceError()
        {
            using (var client = NewClient())
            {
                var e = Assert.Throws<RemoteServiceException>(() => client.Lookup("974720760"));
                Assert.AreEqual(503u, e.Code);
                Assert.AreEqual(404, e.HttpStatus);
                StringAssert.Contains("974720760", e.Message);
            }
        }
    }
}
