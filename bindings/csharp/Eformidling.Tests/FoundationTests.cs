// The foundation through the C# binding: load + ABI check, exceptions per group with details, a
// caught panic, log lines arriving at the event, configuration rejection, client disposal.
using System;
using System.Collections.Generic;
using System.IO;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class FoundationTests
    {
        string dir;

        [SetUp]
        public void SetUp()
        {
            dir = Path.Combine(Path.GetTempPath(), "efm-cs-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "cert.pem"), "placeholder");
            File.WriteAllText(Path.Combine(dir, "key.pem"), "placeholder");
        }

        [TearDown]
        public void TearDown() { Directory.Delete(dir, true); }

        string Config(string orgnr = "910075918", string environment = "sandbox", string key = "key.pem")
        {
            return "{\"organisation_number\":\"" + orgnr + "\",\"environment\":\"" + environment + "\"," +
                   "\"sandbox_url\":\"http://127.0.0.1:7450\",\"base_dir\":\"" + dir.Replace("\\", "\\\\") + "\"," +
                   "\"data_dir\":\"data\",\"credentials\":{\"client_id\":\"c\",\"certificate_pem\":\"cert.pem\"," +
                   "\"private_key_pem\":\"" + key + "\"}}";
        }

        [Test]
        public void LoadsWithMatchingAbi()
        {
            // The one source of the number is EFM_ABI_VERSION in ffi/version.rs, written into the header.
            string header = File.ReadAllText(Environment.GetEnvironmentVariable("EFM_HEADER"));
            var m = System.Text.RegularExpressions.Regex.Match(header, @"#define EFM_ABI_VERSION (\d+)");
            Assert.IsTrue(m.Success);
            Assert.AreEqual(uint.Parse(m.Groups[1].Value), Efm.AbiVersion);
            StringAssert.Contains(".", Efm.Version);
        }

        /// <summary>The values of a string enumeration in schema/NAME.schema.json ("const" members
        /// that follow <paramref name="anchor"/>) as C# member names: still_refused, UNOPENABLE →
        /// StillRefused, Unopenable.</summary>
        static List<string> SchemaConsts(string name, string anchor)
        {
            string root = Path.GetDirectoryName(Path.GetDirectoryName(Environment.GetEnvironmentVariable("EFM_HEADER")));
            string schema = File.ReadAllText(Path.Combine(root, "schema", name + ".schema.json"));
            var names = new List<string>();
            var consts = System.Text.RegularExpressions.Regex.Matches(schema.Substring(schema.IndexOf(anchor)), "\"const\": \"([A-Za-z_]+)\"");
            foreach (System.Text.RegularExpressions.Match m in consts)
            {
                var sb = new System.Text.StringBuilder();
                foreach (var word in m.Groups[1].Value.ToLowerInvariant().Split('_'))
                    sb.Append(char.ToUpperInvariant(word[0])).Append(word.Substring(1));
                names.Add(sb.ToString());
            }
            return names;
        }

        [Test]
        public void QuarantineAndRetryEnumsHaveEveryValueOfTheirSchemas()
        {
            CollectionAssert.AreEquivalent(SchemaConsts("quarantine_list", "\"QuarantineKind\": {"), Enum.GetNames(typeof(QuarantineKind)));
            CollectionAssert.AreEquivalent(SchemaConsts("retry_outcome", "\"oneOf\""), Enum.GetNames(typeof(RetryOutcomeKind)));
        }

        [Test]
        public void ValidConfigGivesSummary()
        {
            string summary = Efm.ValidateConfig(Config());
            StringAssert.Contains("\"maskinporten_audience\":\"http://127.0.0.1:7450/maskinporten/\"", summary);
        }

        [Test]
        public void ResolvedConfigIsTyped()
        {
            ConfigSummary summary = Efm.ResolveConfig(Config());
            Assert.AreEqual("910075918", summary.OrganisationNumber);
            Assert.AreEqual(EfmEnvironment.Sandbox, summary.Environment);
            Assert.AreEqual(Transport.Altinn3, summary.Transport);
            Assert.AreEqual(Path.Combine(dir, "data"), summary.DataDir);
            Assert.AreEqual("c", summary.ClientId);
            Assert.AreEqual(Path.Combine(dir, "cert.pem"), summary.Key.CertificatePem);
            Assert.AreEqual(Path.Combine(dir, "key.pem"), summary.Key.PrivateKeyPem);
            Assert.IsNull(summary.Key.Pkcs12);
            Assert.IsNull(summary.Key.PasswordFrom);
            Assert.IsNull(summary.Kid);
            Assert.IsNull(summary.MessageChannel);
            Assert.AreEqual("0192:910075918", summary.SystemUser.OrgId);
            StringAssert.Contains("910075918", summary.SystemUser.Name);
            Assert.AreEqual("none", summary.Proxy);
            Assert.AreEqual(TimeSpan.FromSeconds(10), summary.ConnectTimeout);
            Assert.AreEqual(TimeSpan.FromSeconds(120), summary.RequestTimeout);
            Assert.AreEqual("http://127.0.0.1:7450/maskinporten/", summary.Urls.MaskinportenAudience);
            StringAssert.StartsWith("http://127.0.0.1:7450/", summary.Urls.ServiceRegistry);
            StringAssert.StartsWith("http://127.0.0.1:7450/", summary.Urls.Altinn2BrokerStreamed);
            StringAssert.Contains("\"environment\":\"sandbox\"", summary.RawJson);
        }

        [Test]
        public void ResolvedConfigOfAPkcs12KeyNamesThePasswordSourceNotThePassword()
        {
            File.WriteAllText(Path.Combine(dir, "k.p12"), "x");
            string config = "{\"organisation_number\":\"910075918\",\"environment\":\"test\"," +
                "\"base_dir\":\"" + dir.Replace("\\", "\\\\") + "\",\"data_dir\":\"data\",\"transport\":\"altinn2\"," +
                "\"altinn2\":{\"username\":\"u\",\"password\":\"p\"},\"timeouts\":{\"connect_secs\":3,\"request_secs\":40}," +
                "\"credentials\":{\"client_id\":\"c\",\"pkcs12\":\"k.p12\",\"pkcs12_password\":\"s3cret-hunter2\"}}";
            ConfigSummary summary = Efm.ResolveConfig(config);
            Assert.AreEqual(EfmEnvironment.Test, summary.Environment);
            Assert.AreEqual(Transport.Altinn2, summary.Transport);
            Assert.AreEqual(Path.Combine(dir, "k.p12"), summary.Key.Pkcs12);
            Assert.AreEqual("\"credentials.pkcs12_password\" in the configuration", summary.Key.PasswordFrom);
            Assert.IsNull(summary.Key.CertificatePem);
            Assert.AreEqual(TimeSpan.FromSeconds(3), summary.ConnectTimeout);
            Assert.AreEqual(TimeSpan.FromSeconds(40), summary.RequestTimeout);
            StringAssert.StartsWith("https://", summary.Urls.Altinn2BrokerBasic);
            StringAssert.DoesNotContain("s3cret-hunter2", summary.RawJson);
        }

        [Test]
        public void BadOrganisationNumberNamesField()
        {
            var e = Assert.Throws<InvalidInputException>(() => Efm.ValidateConfig(Config(orgnr: "910075919")));
            Assert.AreEqual(103u, e.Code);
            Assert.AreEqual("organisation_number", e.Field);
            StringAssert.Contains("mod-11", e.Message);
            Assert.IsFalse(e.Retryable);
            Assert.AreEqual(0, e.HttpStatus);
            StringAssert.Contains("\"group\":\"invalid_input\"", e.DetailJson);
        }

        [Test]
        public void UnknownEnvironmentIsConfigError()
        {
            var e = Assert.Throws<ConfigException>(() => Efm.ValidateConfig(Config(environment: "moon")));
            Assert.AreEqual(201u, e.Code);
            StringAssert.Contains("moon", e.Message);
        }

        [Test]
        public void MissingCredentialFileIsNamed()
        {
            var e = Assert.Throws<ConfigException>(() => Efm.ValidateConfig(Config(key: "nope.pem")));
            Assert.AreEqual(202u, e.Code);
            StringAssert.Contains("nope.pem", e.Message);
            Assert.AreEqual("credentials.private_key_pem", e.Field);
        }

        [Test]
        public void MalformedJson()
        {
            var e = Assert.Throws<InvalidInputException>(() => Efm.ValidateConfig("{\"organisation_number\":"));
            Assert.AreEqual(102u, e.Code);
        }

        [Test]
        public void NonAsciiTextSurvivesTheRoundTrip()
        {
            var e = Assert.Throws<ConfigException>(() => Efm.ValidateConfig(Config(environment: "prøvemiljø")));
            StringAssert.Contains("prøvemiljø", e.Message);
        }

        [Test]
        public void PanicIsCaughtAndProcessSurvives()
        {
            for (int i = 0; i < 2; i++)
            {
                var e = Assert.Throws<PanicException>(() => Efm.DiagnosticPanic());
                Assert.AreEqual(901u, e.Code);
                Assert.IsInstanceOf<InternalException>(e);
            }
            StringAssert.Contains(".", Efm.Version);
        }

        [Test]
        public void LogLinesArrive()
        {
            var lines = new List<LogEventArgs>();
            EventHandler<LogEventArgs> handler = (s, e) => { lock (lines) lines.Add(e); };
            Efm.LogLevel = LogLevel.Debug;
            Efm.Log += handler;
            try
            {
                using (var client = new Client(Config()))
                {
                    StringAssert.Contains("\"organisation_number\":\"910075918\"", client.ConfigJson);
                    Assert.AreEqual("910075918", client.Config.OrganisationNumber);
                }
            }
            finally
            {
                Efm.Log -= handler;
            }
            Assert.IsTrue(lines.Exists(l => l.Level == LogLevel.Info && l.Message.Contains("client created for organisation 910075918")));
        }

        [Test]
        public void ClientActsForTheOrganisationItIsGiven()
        {
            string config = Config();
            string shared = config.Substring(0, config.Length - 1) + ",\"organisations\":[{\"organisation_number\":\"910076787\"}]}";
            using (var client = new Client(shared, "910076787"))
            {
                // The acting organisation, then (keys in order) the list of all of them.
                string json = client.ConfigJson;
                StringAssert.Contains("\"organisation_number\":\"910076787\",\"organisations\":[{", json);
                StringAssert.Contains("{\"client_id\":\"c\",\"key\"", json);
            }
            using (var client = new Client(shared))
            {
                StringAssert.Contains("\"organisation_number\":\"910075918\",\"organisations\"", client.ConfigJson);
            }
            var e = Assert.Throws<ConfigException>(() => new Client(shared, "984661185"));
            Assert.AreEqual("organisation_number", e.Field);
        }

        [Test]
        public void DisposedClientThrows()
        {
            var client = new Client(Config());
            client.Dispose();
            client.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { var _ = client.ConfigJson; });
        }
    }
}
