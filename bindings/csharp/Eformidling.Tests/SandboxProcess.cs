// An efm-sandbox process for the tests that talk to services (binary from EFM_SANDBOX_BIN).
using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Eformidling.Tests
{
    sealed class SandboxProcess : IDisposable
    {
        readonly Process process;

        /// <summary>The sandbox directory: DIR/&lt;orgnr&gt;/config.json are ready configurations.</summary>
        public string Dir { get; private set; }

        public SandboxProcess(string extraArgs = "")
        {
            string binary = Environment.GetEnvironmentVariable("EFM_SANDBOX_BIN");
            Assert.IsNotNull(binary, "EFM_SANDBOX_BIN must name the efm-sandbox binary");
            Dir = Path.Combine(Path.GetTempPath(), "efm-cs-sandbox-" + Guid.NewGuid().ToString("N"));
            var info = new ProcessStartInfo(binary, "--dir \"" + Dir + "\" " + extraArgs)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
            };
            process = Process.Start(info);
            string line = process.StandardOutput.ReadLine();
            StringAssert.StartsWith("efm-sandbox listening on ", line);
            baseUrl = line.Substring("efm-sandbox listening on ".Length).Trim();
        }

        readonly string baseUrl;

        /// <summary>Make the sandbox answer the next <paramref name="method"/> request under
        /// <paramref name="path"/> with <paramref name="status"/>.</summary>
        public void Fault(string path, int status, string method)
        {
            using (var web = new System.Net.WebClient())
            {
                web.Headers[System.Net.HttpRequestHeader.ContentType] = "application/json";
                web.UploadString(baseUrl + "/admin/faults", "POST",
                    "{\"kind\":\"status\",\"status\":" + status + ",\"method\":\"" + method + "\",\"path\":\"" + path + "\",\"times\":1}");
            }
        }

        public Client ClientFor(string orgnr)
        {
            return new Client(File.ReadAllText(Path.Combine(Dir, orgnr, "config.json")));
        }

        public void Dispose()
        {
            process.StandardInput.Close(); // closing stdin stops the sandbox
            if (!process.WaitForExit(10000)) process.Kill();
            Directory.Delete(Dir, true);
        }
    }
}
