"""The codec server (SPEC §12): Temporal's remote-codec protocol over relayflow's payload codec.

The Temporal Web UI (`--ui-codec-endpoint`) and CLI (`--codec-endpoint`) POST
`{"payloads": [{"metadata": {k: base64}, "data": base64}, …]}` to `<endpoint>/decode`
(to show plaintext) and `<endpoint>/encode` (to send a signal or start a run from the UI)
and get the same shape back, one payload out per payload in. `X-Namespace` names the
namespace the payloads belong to; relayflow's keys serve its own namespace only.
With `PAYLOAD_KEYS` unset both endpoints return the payloads unchanged.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from api.codec_access import CodecUser
from api.errors import Invalid, RelayflowError, error_responses
from payload_codec import PayloadDecryptError, data_converter
from settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])


class CodecPayload(BaseModel):
    """One Temporal payload in proto JSON form: bytes as standard base64."""

    metadata: dict[str, str] = Field(default_factory=dict, examples=[{"encoding": "anNvbi9wbGFpbg=="}])
    data: str = Field(default="", examples=[base64.b64encode(b'{"amount": 9000}').decode()])


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list)


def _codec(request: Request) -> PayloadCodec | None:
    """The payload codec of this API's settings (built once per app)."""
    state = request.app.state
    if not hasattr(state, "payload_codec"):
        state.payload_codec = data_converter(state.settings).payload_codec
    codec: PayloadCodec | None = state.payload_codec
    return codec


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{where} is not valid base64") from None


def _to_protos(body: CodecPayloads) -> list[Payload]:
    return [
        Payload(
            metadata={k: _b64(v, f"payloads[{i}].metadata.{k}") for k, v in p.metadata.items()},
            data=_b64(p.data, f"payloads[{i}].data"),
        )
        for i, p in enumerate(body.payloads)
    ]


def _to_json(payloads: list[Payload]) -> CodecPayloads:
    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return CodecPayloads(
        payloads=[
            CodecPayload(metadata={k: b64(v) for k, v in p.metadata.items()}, data=b64(p.data))
            for p in payloads
        ]
    )


def _check_namespace(request: Request, namespace: str | None) -> None:
    settings: Settings = request.app.state.settings
    if namespace and namespace != settings.temporal_namespace:
        raise RelayflowError(
            f"this codec server holds the keys of namespace {settings.temporal_namespace!r}, "
            f"not {namespace!r} (X-Namespace)"
        )


NamespaceHeader = Annotated[str | None, Header(alias="X-Namespace")]
_RESPONSES = error_responses(400, 401, 403, 413, 422)


@router.post("/decode", responses=_RESPONSES)
async def decode(
    body: CodecPayloads, request: Request, user: CodecUser, x_namespace: NamespaceHeader = None
) -> CodecPayloads:
    """Decrypt payloads (any key in `PAYLOAD_KEYS`); unencrypted ones come back unchanged."""
    _check_namespace(request, x_namespace)
    payloads = _to_protos(body)
    codec = _codec(request)
    if codec is None:
        return _to_json(payloads)
    out: list[Payload] = []
    for i, p in enumerate(payloads):
        try:
            out += await codec.decode([p])
        except PayloadDecryptError as e:
            raise Invalid(f"payloads[{i}]: {e}") from None
    return _to_json(out)


@router.post("/encode", responses=_RESPONSES)
async def encode(
    body: CodecPayloads, request: Request, user: CodecUser, x_namespace: NamespaceHeader = None
) -> CodecPayloads:
    """Encrypt payloads with the current (first) key of `PAYLOAD_KEYS`."""
    _check_namespace(request, x_namespace)
    payloads = _to_protos(body)
    codec = _codec(request)
    return _to_json(await codec.encode(payloads) if codec is not None else payloads)
