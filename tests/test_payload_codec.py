"""The AES-256-GCM payload codec and `PAYLOAD_KEYS` parsing (payload_codec.py), no server needed."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from payload_codec import (
    ENCODING,
    KEY_ID,
    AesGcmCodec,
    PayloadDecryptError,
    PayloadKeyError,
    data_converter,
    new_key,
    parse_keys,
)
from settings import Settings

K1, K2 = new_key(), new_key()


def ring(spec: str) -> AesGcmCodec:
    parsed = parse_keys(spec)
    assert parsed is not None
    return AesGcmCodec(parsed)


def settings(keys: str) -> Settings:
    return Settings(_env_file=None, payload_keys=keys)  # type: ignore[call-arg]


def test_unset_keys_give_exactly_todays_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYLOAD_KEYS", raising=False)
    assert data_converter(Settings(_env_file=None)) is pydantic_data_converter
    assert data_converter(settings(" ")) is pydantic_data_converter


def test_keys_give_the_pydantic_converter_with_codec_and_encoded_failures() -> None:
    conv = data_converter(settings(f"k2:{K2},k1:{K1}"))
    assert isinstance(conv.payload_codec, AesGcmCodec)
    assert conv.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert conv.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    assert conv.payload_codec.ring.current == "k2" and set(conv.payload_codec.ring.keys) == {"k1", "k2"}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("k1", "entry 1 has no key"),
        (f"k1:{K1},", "entry 2 is empty"),
        (f"k1:{K1},k1:{K2}", "key id 'k1' appears twice"),
        ("k1:not base64!", "entry 1 (key id 'k1') is not valid base64"),
        (f"k1:{base64.b64encode(os.urandom(16)).decode()}", "decodes to 16 bytes; AES-256 needs exactly 32"),
        (f"bad id:{K1}", "key id must be 1-64 characters"),
        (f":{K1}", "key id must be 1-64 characters"),
    ],
)
def test_malformed_keys_are_named_and_never_echoed(
    spec: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PayloadKeyError, match="PAYLOAD_KEYS") as direct:
        parse_keys(spec)
    assert problem in str(direct.value)
    # at startup (the Settings object): the same reason, and no key material in the message
    monkeypatch.setenv("PAYLOAD_KEYS", spec)
    with pytest.raises(ValidationError) as startup:
        Settings(_env_file=None)
    text = str(startup.value)
    assert problem in text
    for secret in (K1, K2, "not base64!"):
        assert secret not in text


async def test_round_trip_hides_plaintext_and_uses_fresh_nonces() -> None:
    codec = ring(f"k1:{K1}")
    [original] = pydantic_data_converter.payload_converter.to_payloads([{"po": "PO-4711", "amount": 9000}])
    [a, b] = await codec.encode([original, original])
    assert a.metadata["encoding"] == ENCODING and a.metadata[KEY_ID] == b"k1"
    assert b"PO-4711" not in a.SerializeToString()
    assert a.data[:12] != b.data[:12] and a.data != b.data  # random 96-bit nonce per payload
    assert await codec.decode([a, b]) == [original, original]


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    old, rotated = ring(f"k1:{K1}"), ring(f"k2:{K2},k1:{K1}")
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"requester: zoe"')
    [under_k1] = await old.encode([payload])
    [under_k2] = await rotated.encode([payload])
    assert under_k2.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([under_k1, under_k2]) == [payload, payload]
    with pytest.raises(PayloadDecryptError, match="key id 'k2', which is not in PAYLOAD_KEYS"):
        await old.decode([under_k2])


async def test_damaged_or_rekeyed_payloads_fail_loudly() -> None:
    codec = ring(f"k1:{K1}")
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    damaged = Payload()
    damaged.CopyFrom(sealed)
    damaged.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptError, match="does not decrypt"):
        await codec.decode([damaged])
    with pytest.raises(PayloadDecryptError, match="does not decrypt"):
        await ring(f"k1:{K2}").decode([sealed])  # same id, different key


async def test_unencrypted_payloads_pass_through_decode() -> None:
    """Runs recorded before encryption was switched on stay readable."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}')
    assert await ring(f"k1:{K1}").decode([plain]) == [plain]


async def test_large_payload_near_temporals_limit() -> None:
    """1.5 MB (Temporal refuses payloads over 2 MB): a constant 28-byte overhead, exact round trip."""
    codec = ring(f"k1:{K1}")
    big = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(1_500_000))
    [sealed] = await codec.encode([big])
    assert len(sealed.data) == len(big.SerializeToString()) + 12 + 16
    assert await codec.decode([sealed]) == [big]
