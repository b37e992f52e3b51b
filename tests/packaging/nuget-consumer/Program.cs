// A .NET Framework application using the Eformidling package: a lookup, and a document sent by
// 910075918 and received by 910076787 through efm-sandbox. Args: SANDBOX_DIR SCRATCH_DIR VERSION.
// The native library must come from the package (copied next to the .exe by its build .targets).
using System;
using System.IO;
using System.Threading;
using Eformidling;

static class Program
{
    static string Field(string json, string key)
    {
        string pattern = "\"" + key + "\":\"";
        int at = json.IndexOf(pattern, StringComparison.Ordinal);
        if (at < 0) throw new Exception("no " + key + " in " + json);
        at += pattern.Length;
        return json.Substring(at, json.IndexOf('"', at) - at);
    }

    static void Check(bool ok, string what)
    {
        if (!ok) throw new Exception("check failed: " + what);
    }

    static void PollUntil(Client c, Func<string, bool> done, string what)
    {
        for (int i = 0; i < 60; i++)
        {
            if (done(c.Poll())) return;
            Thread.Sleep(300);
        }
        throw new Exception(what + " did not happen in time");
    }

    static Client For(string sandbox, string orgnr)
    {
        return new Client(File.ReadAllText(Path.Combine(Path.Combine(sandbox, orgnr), "config.json")));
    }

    static int Main(string[] args)
    {
        string sandbox = args[0], scratch = args[1], version = args[2];
        Check(Efm.Version == version, "library version " + Efm.Version + " is " + version);
        string docs = Path.Combine(scratch, "docs");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "arkivmelding.xml"), "<arkivmelding/>");
        var pdf = new byte[200000];
        new Random(11).NextBytes(pdf);
        File.WriteAllBytes(Path.Combine(docs, "brev.pdf"), pdf);
        string request = "{\"receiver\":\"910076787\",\"documents\":[" +
            "{\"name\":\"arkivmelding.xml\",\"path\":\"" + Path.Combine(docs, "arkivmelding.xml") + "\"}," +
            "{\"name\":\"brev.pdf\",\"path\":\"" + Path.Combine(docs, "brev.pdf") + "\"}]}";
        using (var a = For(sandbox, "910075918"))
        using (var b = For(sandbox, "910076787"))
        {
            string capabilities = a.Lookup("910076787");
            Check(capabilities.Contains("910076787"), "lookup names the receiver");
            string id = Field(a.Send(request), "message_id");
            PollUntil(b, s => s.Contains(id), "delivery");
            Check(Field(b.Peek(), "message_id") == id, "peek gives the message");
            string inbox = Path.Combine(scratch, "inbox");
            b.Pop(id, inbox);
            byte[] got = File.ReadAllBytes(Path.Combine(inbox, "brev.pdf"));
            Check(got.Length == pdf.Length, "document length");
            for (int i = 0; i < got.Length; i++) Check(got[i] == pdf[i], "document bytes");
            b.Delete(id);
            PollUntil(a, s => a.Status(id).Contains("\"LEVERT\""), "LEVERT back");
        }
        Console.WriteLine("nuget consumer: lookup and send/receive with Eformidling " + version + " (library " + Efm.Version + ")");
        return 0;
    }
}
