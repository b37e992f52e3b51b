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
            StringAssert.StartsWith("efm-sandbox listening on ", process.StandardOutput.ReadLine());
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
