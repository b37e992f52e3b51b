import logging

import eformidling

logging.basicConfig(level=logging.INFO)  # library log lines arrive in logger "eformidling"
with eformidling.Client(open("efm.json").read()) as client:
    print(client.lookup("910076787").capabilities[0].service_identifier)
    sent = client.send(
        "910076787",
        [("arkivmelding.xml", "arkivmelding.xml"), ("vedtak.pdf", "vedtak.pdf")],
        progress=lambda done, total: print(f"{done}/{total}"),  # return False to cancel
    )
    client.poll()  # fetch incoming messages and statuses
    while (msg := client.peek()) is not None:  # oldest first, locked for us
        opened = client.pop(msg.message_id, "inbox/" + msg.message_id)
        print([f.path for f in opened.files])  # archive them
        client.delete(msg.message_id)  # LEVERT goes back to the sender
    print([e.status.value for e in client.status(sent.message_id)])  # OPPRETTET, SENDT, ...
