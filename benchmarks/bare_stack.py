"""The bare stack: what Trent is built on, with nothing of Trent's work — the limit a request could reach here.

An ASGI callable served by the same uvicorn (uvloop, httptools) that reads the body, verifies SigV4 with Trent's
own verifier, parses JSON with orjson and answers CreateKey, Encrypt, Decrypt and GenerateDataKey with one
cached AES-GCM key: no authorization, no store, no audit, no validation, no log. `benchmarks/run.py --bare`
measures it beside Trent with the same worker counts and prints Trent's share of it.

    BARE_ACCESS_KEY=... BARE_SECRET_KEY=... uvicorn --factory benchmarks.bare_stack:create_app --workers N
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.edge.sigv4 import SigV4Verifier, parse_authorization

Scope = dict[str, Any]


class BareStack:
    def __init__(self, access_key: str, secret_key: str) -> None:
        self._access_key, self._secret_key = access_key, secret_key
        self._verifier = SigV4Verifier()
        # The same key in every worker process, so that any worker decrypts what another encrypted.
        self._aead = AESGCM(hashlib.sha256(secret_key.encode()).digest())
        self._key_id = str(uuid.uuid5(uuid.NAMESPACE_OID, access_key))
        self._arn = f"arn:aws:kms:us-east-1:000000000000:key/{self._key_id}"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if scope["method"] == "GET":
            await self._send(send, 200, b'{"status":"ok"}')
            return
        auth = parse_authorization(headers)
        if auth.access_key_id != self._access_key:
            await self._send(send, 400, b'{"__type":"UnrecognizedClientException"}')
            return
        self._verifier.check_time(auth)
        self._verifier.verify(
            auth,
            secret_access_key=self._secret_key,
            method="POST",
            path="/",
            query_string="",
            headers=headers,
            body=body,
        )
        operation = headers.get("x-amz-target", "").removeprefix("TrentService.")
        request = orjson.loads(body) if body else {}
        await self._send(send, 200, orjson.dumps(self._answer(operation, request)))

    def _answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "CreateKey":
            return {"KeyMetadata": {"KeyId": self._key_id, "Arn": self._arn, "CreationDate": time.time()}}
        if operation == "Encrypt":
            nonce = os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, base64.b64decode(request["Plaintext"]), None)
            return {"CiphertextBlob": base64.b64encode(sealed).decode(), "KeyId": self._arn}
        if operation == "Decrypt":
            blob = base64.b64decode(request["CiphertextBlob"])
            plaintext = self._aead.decrypt(blob[:12], blob[12:], None)
            return {"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": self._arn}
        if operation == "GenerateDataKey":
            data_key, nonce = os.urandom(32), os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, data_key, None)
            return {
                "CiphertextBlob": base64.b64encode(sealed).decode(),
                "Plaintext": base64.b64encode(data_key).decode(),
                "KeyId": self._arn,
            }
        return {"__type": "UnknownOperationException"}

    @staticmethod
    async def _send(send: Any, status: int, payload: bytes) -> None:
        headers = [(b"content-type", b"application/x-amz-json-1.1"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def create_app() -> BareStack:
    return BareStack(os.environ["BARE_ACCESS_KEY"], os.environ["BARE_SECRET_KEY"])
