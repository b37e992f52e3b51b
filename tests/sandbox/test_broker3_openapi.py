"""Altinn 3 broker stand-in: responses validate against the reference OpenAPI (openapi-core).

The reference OpenAPI (the integration point's copy) declares error bodies as application/json;
the broker itself answers application/problem+json (Altinn/altinn-broker `ProblemDetailsHelper.cs`), so error
bodies are checked against the ProblemDetails schema under the declared media type. Confirm is
documented as 200 while the broker's code answers 204; the sandbox does 204 by default and 200
when told (setting confirm_status), which is what is validated here.
"""

import copy
import json
import uuid

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from efm_sandbox_support import ORG_A, ORG_B, ORG_C, FIXTURES

RESOURCE = "eformidling-dpo-meldingsutveksling"


@pytest.fixture(scope="module")
def openapi(sandbox):
    spec = json.loads((FIXTURES / "altinn-broker-v3" / "altinn-broker-v1.json").read_text())
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": sandbox.base_url}]
    # The reference file nests its webhooks wrongly (spec validation refuses them); the sandbox
    # sends no webhooks, so they are dropped before loading.
    spec.pop("webhooks", None)
    return OpenAPI.from_dict(spec)


@pytest.fixture(scope="module")
def parties(sandbox):
    a, b, c = sandbox.org(ORG_A), sandbox.org(ORG_B), sandbox.org(ORG_C)
    return {
        "a_write": sandbox.altinn_token(a, "altinn:broker.write"),
        "b_read": sandbox.altinn_token(b, "altinn:broker.read"),
        "c_read": sandbox.altinn_token(c, "altinn:broker.read"),
    }


class BinaryAsText(RequestsOpenAPIResponse):
    """openapi-core checks `format: binary` bodies as strings; hand it the bytes as latin-1 text
    (one character per byte, so length and content are preserved)."""

    @property
    def data(self):
        return self.response.content.decode("latin-1")


def call(openapi, method, url, token, *, problem=False, binary=False, **kw):
    headers = kw.pop("headers", {})
    headers["Authorization"] = f"Bearer {token}"
    r = requests.request(method, url, headers=headers, timeout=30, **kw)
    validated = r
    if problem:
        # Validate the problem+json body under the media type the OpenAPI declares.
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        validated = copy.copy(r)
        validated.headers = requests.structures.CaseInsensitiveDict(r.headers)
        validated.headers["Content-Type"] = "application/json"
    wrapper = BinaryAsText if binary else RequestsOpenAPIResponse
    openapi.validate_response(RequestsOpenAPIRequest(r.request), wrapper(validated))
    return r


def init_body(sender, recipient):
    return {
        "fileName": "sbd.zip",
        "resourceId": RESOURCE,
        "sendersFileTransferReference": str(uuid.uuid4()),
        "sender": f"0192:{sender}",
        "recipients": [f"0192:{recipient}"],
        "propertyList": {},
        "checksum": None,
        "disableVirusScan": None,
    }


def test_flow_validates_against_openapi(sandbox, openapi, parties):
    base = f"{sandbox.base_url}/broker/api/v1/filetransfer"
    r = call(openapi, "POST", base, parties["a_write"], json=init_body(ORG_A, ORG_B), headers={"Accept": "application/json"})
    assert r.status_code == 200
    fid = r.json()["fileTransferId"]

    payload = bytes(range(256)) * 100
    r = call(openapi, "POST", f"{base}/{fid}/upload", parties["a_write"], data=payload,
             headers={"Content-Type": "application/octet-stream", "Accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"fileTransferId": fid}

    r = call(openapi, "GET", f"{base}/{fid}", parties["b_read"])
    assert r.status_code == 200
    assert r.json()["fileTransferStatus"] == "Published"
    assert r.json()["fileTransferSize"] == len(payload)

    r = call(openapi, "GET", f"{base}/{fid}/details", parties["b_read"])
    assert r.status_code == 200
    assert [h["fileTransferStatus"] for h in r.json()["fileTransferStatusHistory"]][-1] == "Published"

    r = call(openapi, "GET", base, parties["b_read"],
             params={"resourceId": RESOURCE, "status": "Published", "recipientStatus": "Initialized"})
    assert r.status_code == 200 and fid in r.json()

    r = call(openapi, "GET", f"{base}/{fid}/download", parties["b_read"], binary=True)
    assert r.status_code == 200 and r.content == payload

    sandbox.admin("POST", "/settings", {"confirm_status": 200})
    try:
        r = call(openapi, "POST", f"{base}/{fid}/confirmdownload", parties["b_read"])
        assert r.status_code == 200
    finally:
        sandbox.admin("POST", "/settings", {"confirm_status": 204})

    r = call(openapi, "GET", f"{base}/{fid}", parties["b_read"])
    assert r.json()["fileTransferStatus"] == "AllConfirmedDownloaded"


def test_errors_validate_against_openapi(sandbox, openapi, parties):
    base = f"{sandbox.base_url}/broker/api/v1/filetransfer"
    # 404 on overview.
    r = call(openapi, "GET", f"{base}/{uuid.uuid4()}", parties["b_read"], problem=True)
    assert r.status_code == 404 and r.json()["code"] == "BRO-00001"
    # 400 validation on initialize.
    bad = init_body(ORG_A, ORG_B)
    bad["recipients"] = []
    r = call(openapi, "POST", base, parties["a_write"], json=bad, problem=True)
    assert r.status_code == 400 and "recipients" in r.json()["errors"]
    # 401 party on initialize.
    r = call(openapi, "POST", base, parties["a_write"], json=init_body(ORG_B, ORG_A), problem=True)
    assert r.status_code == 401 and r.json()["code"] == "BRO-00006"
    # 409 on a second upload, 401 for a third party's overview.
    r = requests.post(base, json=init_body(ORG_A, ORG_B), headers={"Authorization": f"Bearer {parties['a_write']}"}, timeout=30)
    fid = r.json()["fileTransferId"]
    up = {"Content-Type": "application/octet-stream"}
    call(openapi, "POST", f"{base}/{fid}/upload", parties["a_write"], data=b"x", headers=dict(up))
    r = call(openapi, "POST", f"{base}/{fid}/upload", parties["a_write"], data=b"x", headers=dict(up), problem=True)
    assert r.status_code == 409 and r.json()["code"] == "BRO-00004"
    r = call(openapi, "GET", f"{base}/{fid}", parties["c_read"], problem=True)
    assert r.status_code == 401 and r.json()["code"] == "BRO-00006"
    # 400 on confirm before download, 403 on search for another resource.
    r = call(openapi, "POST", f"{base}/{fid}/confirmdownload", parties["b_read"], problem=True)
    assert r.status_code == 400 and r.json()["code"] == "BRO-00019"
    r = call(openapi, "GET", base, parties["b_read"], params={"resourceId": "other-resource"}, problem=True)
    assert r.status_code == 403 and r.json()["code"] == "BRO-00005"
    # Download errors: the OpenAPI declares them as application/octet-stream (no schema), so
    # only the status and our problem body are checked.
    r = requests.get(f"{base}/{fid}/download", headers={"Authorization": f"Bearer {parties['c_read']}"}, timeout=30)
    assert r.status_code == 401 and r.json()["code"] == "BRO-00006"
