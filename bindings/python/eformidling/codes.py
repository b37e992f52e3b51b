"""Symbolic names of the library's result codes (``efm_result`` in include/efm.h).

The numbers are stable: grouped by hundreds (1xx invalid input, 2xx configuration, 3xx
authentication, 4xx network, 5xx remote service, 6xx cryptography, 7xx package, 8xx storage,
9xx internal), so 503 is ``RECEIVER_NOT_FOUND``, not an HTTP status. A test checks these names and
numbers against the header.
"""

from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    """An efm_result; ``EfmError.code`` is one of these (or a newer number this version lacks)."""

    OK = 0
    INVALID_ARGUMENT = 100
    INVALID_UTF8 = 101
    INVALID_JSON = 102
    INVALID_ORGANISATION_NUMBER = 103
    INVALID_IDENTIFIER = 104
    INVALID_MESSAGE = 105
    CANCELLED = 106
    CONFIG_INVALID = 200
    CONFIG_UNKNOWN_ENVIRONMENT = 201
    CONFIG_MISSING_FILE = 202
    CONFIG_CREDENTIAL = 203
    AUTH_FAILED = 300
    AUTH_INVALID_CLIENT = 301
    AUTH_CERTIFICATE_NOT_REGISTERED = 302
    AUTH_CLOCK_SKEW = 303
    AUTH_SCOPE_NOT_GRANTED = 304
    AUTH_TOKEN_EXPIRED = 305
    AUTH_FORBIDDEN = 306
    NETWORK = 400
    TIMEOUT = 401
    TLS = 402
    CONNECTION_DROPPED = 403
    REMOTE_SERVICE = 500
    REMOTE_RATE_LIMITED = 501
    REMOTE_UNAVAILABLE = 502
    RECEIVER_NOT_FOUND = 503
    RECEIVER_LACKS_DPO = 504
    REMOTE_BAD_RESPONSE = 505
    REMOTE_NOT_FOUND = 506
    CRYPTO = 600
    CERTIFICATE_INVALID = 601
    SIGNATURE_INVALID = 602
    DECRYPT_FAILED = 603
    NOT_FOR_US = 604
    KEY_INVALID = 605
    PACKAGE_INVALID = 700
    DIGEST_MISMATCH = 701
    UNSAFE_ENTRY = 702
    ENTRY_TOO_LARGE = 703
    SBD_INVALID = 704
    STORAGE = 800
    NOT_FOUND = 801
    IO = 802
    ALREADY_EXISTS = 803
    INTERNAL = 900
    PANIC = 901
