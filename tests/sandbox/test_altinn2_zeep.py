"""Altinn 2 SOAP stand-in, called by zeep clients built from the reference WSDLs.

zeep builds and sends the Basic-port requests (initiate, check, get available files, confirm)
and the Streamed-port download request; it cannot send MTOM, so UploadFileStreamedBasic is sent
as a hand-built MTOM multipart (as the integration point's JAX-WS client sends it). The download
answer is MTOM (XOP); zeep resolves the xop:Include to the attachment bytes.
"""

import uuid

import pytest
import requests
import zeep
from zeep.exceptions import Fault

from efm_sandbox_support import ORG_A, ORG_B, FIXTURES

BS = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06"
STREAMED_ACTION = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/"


def basic_client(sandbox):
    client = zeep.Client(str(FIXTURES / "altinn-soap" / "BrokerServiceExternalBasic.wsdl"))
    binding = "{http://www.altinn.no/services/ServiceEngine/Broker/2015/06}BasicHttpBinding_IBrokerServiceExternalBasic"
    return client, client.create_service(binding, f"{sandbox.base_url}/ServiceEngineExternal/BrokerServiceExternalBasic.svc")


def streamed_client(sandbox):
    client = zeep.Client(str(FIXTURES / "altinn-soap" / "BrokerServiceExternalBasicStreamed.wsdl"))
    binding = "{http://www.altinn.no/services/ServiceEngine/Broker/2015/06}BasicHttpBinding_IBrokerServiceExternalBasicStreamed"
    return client, client.create_service(binding, f"{sandbox.base_url}/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc")


def initiate(sandbox, client, service, org, recipient, reference="ref-zeep"):
    Initiation = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}BrokerServiceInitiation")
    Manifest = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}Manifest")
    Recipients = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}ArrayOfRecipient")
    Files = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}ArrayOfFile")
    manifest = Manifest(
        ExternalServiceCode="4192",
        ExternalServiceEditionCode=270815,
        FileList=Files(File=[{"FileName": "sbd.zip"}]),
        Reportee=org.orgnr,
        SendersReference=reference,
    )
    initiation = Initiation(Manifest=manifest, RecipientList=Recipients(Recipient=[{"PartyNumber": recipient}]))
    return service.InitiateBrokerServiceBasic(
        systemUserName=org.altinn2_user, systemPassword=org.altinn2_password, brokerServiceInitiation=initiation
    )


def upload_mtom(sandbox, org, reference, data: bytes):
    boundary = "uuid:zeep-test+id=7"
    root = (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}">'
        f"<soap:Header><bs:FileName>sbd.zip</bs:FileName><bs:Reference>{reference}</bs:Reference>"
        f"<bs:Reportee>{org.orgnr}</bs:Reportee><bs:SystemPassword>{org.altinn2_password}</bs:SystemPassword>"
        f"<bs:SystemUserName>{org.altinn2_user}</bs:SystemUserName></soap:Header>"
        f"<soap:Body><bs:StreamedPayloadBasicBE><bs:DataStream>"
        f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:payload.1@dpo"/>'
        f"</bs:DataStream></bs:StreamedPayloadBasicBE></soap:Body></soap:Envelope>"
    )
    body = (
        f"--{boundary}\r\nContent-Type: application/xop+xml; charset=utf-8; type=\"text/xml\"\r\n"
        f"Content-Transfer-Encoding: binary\r\nContent-ID: <root.0@dpo>\r\n\r\n{root}\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <payload.1@dpo>\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return requests.post(
        f"{sandbox.base_url}/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc",
        data=body,
        headers={
            "Content-Type": f'multipart/related; type="application/xop+xml"; start="<root.0@dpo>"; start-info="text/xml"; boundary="{boundary}"',
            "SOAPAction": f'"{STREAMED_ACTION}UploadFileStreamedBasic"',
        },
        timeout=30,
    )


def test_basic_port_with_zeep(sandbox):
    a, b = sandbox.org(ORG_A), sandbox.org(ORG_B)
    client, service = basic_client(sandbox)
    reference = initiate(sandbox, client, service, a, ORG_B)
    uuid.UUID(reference)
    r = upload_mtom(sandbox, a, reference, b"zip bytes from zeep test")
    assert r.status_code == 200, r.text
    assert "<ReceiptStatusCode>OK</ReceiptStatusCode>" in r.text

    Poll = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01}BrokerServicePoll")
    Strings = client.get_type("{http://schemas.microsoft.com/2003/10/Serialization/Arrays}ArrayOfstring")
    available = service.CheckIfAvailableFilesBasic(
        systemUserName=b.altinn2_user, systemPassword=b.altinn2_password,
        pollParameters=Poll(ExternalServiceCode="4192", ExternalServiceEditionCode=270815, Recipients=Strings(string=[ORG_B])),
    )
    assert available is True

    Search = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}BrokerServiceSearch")
    files = service.GetAvailableFilesBasic(
        systemUserName=b.altinn2_user, systemPassword=b.altinn2_password,
        searchParameters=Search(ExternalServiceCode="4192", ExternalServiceEditionCode=270815, FileStatus="Uploaded", Reportee=ORG_B),
    )
    mine = [f for f in files if f.FileReference == reference]
    assert len(mine) == 1
    f = mine[0]
    assert f.FileName == "sbd.zip" and f.FileSize == len(b"zip bytes from zeep test")
    assert f.Reportee == ORG_A and f.SendersReference == "ref-zeep" and f.FileStatus == "Uploaded"

    # Download with zeep (request built from the Streamed WSDL; the MTOM answer resolved by zeep).
    sclient, sservice = streamed_client(sandbox)
    data = sservice.DownloadFileStreamedBasic(
        systemUserName=b.altinn2_user, systemPassword=b.altinn2_password, fileReference=reference, reportee=ORG_B
    )
    assert data == b"zip bytes from zeep test"

    assert service.ConfirmDownloadedBasic(
        systemUserName=b.altinn2_user, systemPassword=b.altinn2_password, fileReference=reference, reportee=ORG_B
    ) is None
    files = service.GetAvailableFilesBasic(
        systemUserName=b.altinn2_user, systemPassword=b.altinn2_password,
        searchParameters=Search(FileStatus="Downloaded", Reportee=ORG_B),
    )
    assert reference in [f.FileReference for f in files]


def test_faults_reach_zeep_as_altinn_faults(sandbox):
    a = sandbox.org(ORG_A)
    client, service = basic_client(sandbox)
    Search = client.get_type("{http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06}BrokerServiceSearch")
    with pytest.raises(Fault) as err:
        service.GetAvailableFilesBasic(
            systemUserName=a.altinn2_user, systemPassword="wrong",
            searchParameters=Search(FileStatus="Uploaded", Reportee=ORG_A),
        )
    assert "Incorrect username/password" in err.value.message
    detail = err.value.detail
    ns = {"f": "http://www.altinn.no/services/common/fault/2009/10"}
    assert detail.find("f:AltinnFault/f:ErrorID", ns).text == "989"

    with pytest.raises(Fault) as err:
        service.GetAvailableFilesBasic(
            systemUserName=a.altinn2_user, systemPassword=a.altinn2_password,
            searchParameters=Search(FileStatus="Uploaded", Reportee=ORG_B),
        )
    assert "not authorised" in err.value.message
