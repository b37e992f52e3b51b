// The README's C# example (tests/readme/Example.cs, compiled by scripts/test-csharp.sh) runs as a
// user would run it: efm.json and the documents in the current directory, against an efm-sandbox.
// Without the native library it fails with a clear LibraryLoadException.
using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Eformidling.Tests
{
    [TestFixture]
    public class ReadmeExampleTests
    {
        static Process Run(string dir, bool withLibrary)
        {
            var info = new ProcessStartInfo("mono", "\"" + Environment.GetEnvironmentVariable("EFM_README_EXAMPLE") + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = dir,
            };
            if (!withLibrary) info.EnvironmentVariables["LD_LIBRARY_PATH"] = "";
            return Process.Start(info);
        }

        [Test]
        public void ExampleRunsAgainstTheSandbox()
        {
            using (var sandbox = new SandboxProcess("--virus-scan-delay-ms 0"))
            {
                string dir = Path.Combine(sandbox.Dir, "readme");
                Directory.CreateDirectory(dir);
                File.Copy(Path.Combine(sandbox.Dir, "910075918", "config.json"), Path.Combine(dir, "efm.json"));
                File.WriteAllText(Path.Combine(dir, "arkivmelding.xml"), "<arkivmelding/>");
                File.WriteAllBytes(Path.Combine(dir, "vedtak.pdf"), new byte[150000]);
                using (var p = Run(dir, true))
                {
                    string stdout = p.StandardOutput.ReadToEnd();
                    string stderr = p.StandardError.ReadToEnd();
                    Assert.IsTrue(p.WaitForExit(60000));
                    Assert.AreEqual(0, p.ExitCode, stderr);
                    StringAssert.Contains("Info: ", stdout);   // the Log event
                    StringAssert.Contains("Opprettet", stdout); // the status history
                    StringAssert.Contains("Sendt", stdout);
                }
            }
        }

        [Test]
        public void WithoutTheLibraryTheErrorSaysWhatToDo()
        {
            string dir = Path.Combine(Path.GetTempPath(), "efm-cs-nolib-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                using (var p = Run(dir, false))
                {
                    string stderr = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
                    Assert.IsTrue(p.WaitForExit(60000));
                    Assert.AreNotEqual(0, p.ExitCode);
                    StringAssert.Contains("LibraryLoadException", stderr);
                    StringAssert.Contains("Efm.Load", stderr);
                    StringAssert.DoesNotContain("TypeInitializationException", stderr);
                }
            }
            finally { Directory.Delete(dir, true); }
        }
    }
}
