"""Encrypted payloads (SPEC §12): the AES-256-GCM payload codec and the one data converter.

Everything that talks to Temporal (API, worker, test and bench rigs, the dev stack)
builds its data converter with `data_converter(settings)`:

- `PAYLOAD_KEYS` unset: exactly `pydantic_data_converter` — no codec, no cost.
- `PAYLOAD_KEYS=<id>:<base64 of 32 bytes>[,<id>:<key>…]`: the same converter plus
  `AesGcmCodec` (the first key encrypts, every key decrypts) and failures whose
  message and stack trace travel encrypted too (`encode_common_attributes`).

An encrypted payload is `metadata = {encoding: binary/encrypted, encryption-key-id: <id>}`,
`data = nonce (12 random bytes) ‖ AES-GCM(serialized original payload) ‖ tag (16 bytes)`.
Payloads without that encoding are passed through on decode, so runs recorded before
encryption was switched on stay readable. Search attributes are never encoded (Temporal
must index them); see docs/operations.md for what else stays visible.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)


class KeySettings(Protocol):
    """What the codec needs of the settings (`settings.Settings` has it)."""

    payload_keys: SecretStr

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # 96-bit random nonce, the size GCM is specified for
KEY_BYTES = 32  # AES-256
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PayloadKeyError(ValueError):
    """`PAYLOAD_KEYS` is malformed. The message names the entry and the problem, never a key."""


class PayloadDecryptError(ValueError):
    """An encrypted payload cannot be decrypted: unknown key id, or damaged / wrong-key data."""


@dataclass(frozen=True)
class KeyRing:
    """Parsed `PAYLOAD_KEYS`: `current` encrypts; `keys` (id → 32 bytes) decrypt."""

    current: str
    keys: dict[str, bytes]


def parse_keys(spec: str) -> KeyRing | None:
    """`k2:<b64>,k1:<b64>` → KeyRing; empty → None. Raises PayloadKeyError with a clear reason."""
    entries = [e.strip() for e in spec.split(",")]
    if not any(entries):
        return None
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(entries, 1):
        where = f"PAYLOAD_KEYS entry {n}"
        if not entry:
            raise PayloadKeyError(f"{where} is empty (stray comma?)")
        key_id, sep, material = entry.partition(":")
        key_id, material = key_id.strip(), material.strip()
        if not sep or not material:
            raise PayloadKeyError(f"{where} has no key: write <id>:<base64 of 32 bytes>")
        if not _ID.match(key_id):
            raise PayloadKeyError(
                f"{where}: key id must be 1-64 characters of letters, digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise PayloadKeyError(f"{where}: key id {key_id!r} appears twice")
        try:
            raw = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"{where} (key id {key_id!r}) is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise PayloadKeyError(
                f"{where} (key id {key_id!r}) decodes to {len(raw)} bytes; "
                f"AES-256 needs exactly {KEY_BYTES}"
            )
        keys[key_id] = raw
    return KeyRing(current=next(iter(keys)), keys=keys)


def new_key() -> str:
    """A fresh random key, base64 (what `PAYLOAD_KEYS` wants after `<id>:`)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class AesGcmCodec(PayloadCodec):
    """Temporal `PayloadCodec` encrypting each payload on its own with AES-256-GCM."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {kid: AESGCM(key) for kid, key in ring.keys.items()}
        self._current = self._ciphers[ring.current]
        self._current_id = ring.current.encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, payload.SerializeToString(), None)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self._current_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptError(
                f"payload was encrypted with key id {key_id!r}, which is not in PAYLOAD_KEYS"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
        except (InvalidTag, ValueError):
            raise PayloadDecryptError(
                f"payload encrypted with key id {key_id!r} does not decrypt: "
                "the key behind that id changed, or the data is damaged"
            ) from None
        out = Payload()
        out.ParseFromString(plain)
        return out


def data_converter(settings: KeySettings) -> DataConverter:
    """The data converter for every Temporal client and worker of relayflow."""
    ring = parse_keys(settings.payload_keys.get_secret_value())
    if ring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=AesGcmCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
