using System;
using System.IO;
using Eformidling;

class Example
{
    static void Main()
    {
        Efm.Log += (s, e) => Console.WriteLine(e.Level + ": " + e.Message);
        using (var client = new Client(File.ReadAllText("efm.json")))
        {
            var request = new SendRequest("910076787")
                .Add("arkivmelding.xml", "arkivmelding.xml")
                .Add("vedtak.pdf", "vedtak.pdf");
            var progress = new Progress<TransferProgress>(p => Console.WriteLine(p.Done + "/" + p.Total));
            MessageInfo sent = client.Send(request, progress); // a CancellationToken may follow
            client.PollMessages();
            for (IncomingMessage msg; (msg = client.PeekMessage()) != null; )
            {
                OpenedMessage opened = client.PopMessage(msg.MessageId, Path.Combine("inbox", msg.MessageId));
                foreach (var file in opened.Files) Console.WriteLine(file.Path); // archive them
                client.DeleteMessage(msg.MessageId); // LEVERT goes back to the sender
            }
            foreach (var entry in client.StatusHistory(sent.MessageId)) Console.WriteLine(entry.Status);
        }
    }
}
