// Service Registry lookups through the C# binding, against an efm-sandbox process.
using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class LookupTests
    {
        const string Process = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
        Process sandbox;
        string dir;

        [TestFixtureSetUp]
        public void StartSandbox()
        {
            string binary = Environment.GetEnvironmentVariable("EFM_SANDBOX_BIN");
            Assert.IsNotNull(binary, "EFM_SANDBOX_BIN must name the efm-sandbox binary");
            dir = Path.Combine(Path.GetTempPath(), "efm-cs-sandbox-" + Guid.NewGuid().ToString("N"));
            var info = new ProcessStartInfo(binary, "--dir \"" + dir + "\"")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
            };
            sandbox = System.Diagnostics.Process.Start(info);
            string line = sandbox.StandardOutput.ReadLine();
            StringAssert.StartsWith("efm-sandbox listening on ", line);
        }

        [TestFixtureTearDown]
        public void StopSandbox()
        {
            sandbox.StandardInput.Close();
            if (!sandbox.WaitForExit(10000)) sandbox.Kill();
            Directory.Delete(dir, true);
        }

        Client NewClient()
        {
            return new Client(File.ReadAllText(Path.Combine(dir, "910075918", "config.json")));
        }

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
