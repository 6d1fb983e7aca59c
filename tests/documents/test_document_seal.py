"""Sealing: canonical JSON, Ed25519 seal and verification, tampering, keys."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.documents.canonical import document_from_canonical
from server.documents.model import MinutesDoc, NoticeDoc
from server.documents.seal import (
    Seal,
    SealKeyError,
    canonical_bytes,
    generate_private_key,
    load_private_key_pem,
    load_public_key,
    private_key_to_pem,
    public_key_b64,
    public_key_to_pem,
    seal,
    verify,
)

SEALED_AT = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: _shuffled(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


def _to_nfd(value: Any) -> Any:
    """A dataclass tree with every string decomposed (NFD)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, tuple):
        return tuple(_to_nfd(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _to_nfd(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        )
    return value


def test_canonical_bytes_are_compact_sorted_nfc_json(minutes: MinutesDoc) -> None:
    data = canonical_bytes(minutes)
    parsed = json.loads(data)
    assert data == json.dumps(parsed, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert data.decode("utf-8") == unicodedata.normalize("NFC", data.decode("utf-8"))
    assert parsed["$document"] == "MinutesDoc"
    assert parsed["started_at"] == "2026-03-16T08:00:00+07:00"
    assert parsed["issued_on"] == "2026-03-16"
    assert parsed["attendees"][6]["status"] == "absent"
    assert parsed["agenda"][0]["contributions"][0]["recording_offset_s"] == 754


def test_canonical_form_is_stable_across_dict_order_and_nfd_input(minutes: MinutesDoc) -> None:
    data = canonical_bytes(minutes)
    rng = random.Random(20260316)
    orders = set()
    for _ in range(5):
        shuffled = _shuffled(json.loads(data), rng)
        orders.add(tuple(shuffled))
        assert canonical_bytes(shuffled) == data
    assert len(orders) > 1  # the key orders really differed
    nfd = _to_nfd(minutes)
    assert nfd.title != minutes.title  # really decomposed
    assert canonical_bytes(nfd) == data
    nfd_json = json.loads(unicodedata.normalize("NFD", data.decode("utf-8")))
    assert canonical_bytes(nfd_json) == data


def test_canonical_form_round_trips_to_the_same_document(minutes: MinutesDoc, notice: NoticeDoc) -> None:
    for doc in (minutes, notice):
        rebuilt = document_from_canonical(canonical_bytes(doc))
        assert rebuilt == doc
        assert canonical_bytes(rebuilt) == canonical_bytes(doc)
    integral = dataclasses.replace(
        minutes.agenda[0].contributions[0],
        recording_offset_s=754,  # int where a float is expected
    )
    assert canonical_bytes({"x": integral}) == canonical_bytes({"x": minutes.agenda[0].contributions[0]})


def test_seal_verifies_and_any_tampering_fails(minutes: MinutesDoc) -> None:
    key = generate_private_key()
    sealed = seal(minutes, key, sealed_at=SEALED_AT)
    assert sealed.algorithm == "Ed25519" and len(sealed.sha256_hex) == 64
    assert sealed.public_key_b64 == public_key_b64(key)
    assert verify(minutes, sealed)
    data = canonical_bytes(minutes)
    assert verify(data, sealed)

    for index in (0, len(data) // 2, len(data) - 1):
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        assert not verify(bytes(tampered), sealed)

    changed_text = dataclasses.replace(minutes.conclusions[1], deadline=date(2026, 4, 6))
    assert changed_text.deadline != minutes.conclusions[1].deadline
    changed = dataclasses.replace(
        minutes, conclusions=(minutes.conclusions[0], changed_text, *minutes.conclusions[2:])
    )
    assert not verify(changed, sealed)
    assert not verify(dataclasses.replace(minutes, ended_at=minutes.ended_at + timedelta(minutes=1)), sealed)


def test_seal_binds_time_key_and_signature(minutes: MinutesDoc) -> None:
    key, other = generate_private_key(), generate_private_key()
    sealed = seal(minutes, key, sealed_at=SEALED_AT)
    assert verify(minutes, sealed, public_key=key.public_key())
    assert verify(minutes, sealed, public_key=public_key_b64(key))
    assert not verify(minutes, sealed, public_key=other.public_key())
    assert not verify(minutes, dataclasses.replace(sealed, sealed_at=SEALED_AT + timedelta(seconds=1)))
    # Someone re-sealing with their own key makes a valid seal, but not one by the approving user.
    forged = seal(minutes, other, sealed_at=SEALED_AT)
    assert verify(minutes, forged) and not verify(minutes, forged, public_key=public_key_b64(key))
    signature = bytearray(base64.b64decode(sealed.signature_b64))
    signature[5] ^= 0x80
    assert not verify(
        minutes, dataclasses.replace(sealed, signature_b64=base64.b64encode(signature).decode())
    )
    assert not verify(minutes, dataclasses.replace(sealed, signature_b64="not base64!"))
    assert not verify(minutes, dataclasses.replace(sealed, algorithm="RSA"))
    # The document type is part of the sealed bytes: the same fields without it do not verify.
    assert not verify(dataclasses.asdict(minutes), sealed)


def test_seal_survives_json_storage(minutes: MinutesDoc) -> None:
    key = generate_private_key()
    sealed = seal(minutes, key)
    assert sealed.sealed_at.tzinfo is not None
    stored = Seal.from_json(sealed.to_json())
    assert stored == sealed
    assert verify(document_from_canonical(canonical_bytes(minutes)), stored, public_key=public_key_b64(key))
    with pytest.raises(ValueError):
        seal(minutes, key, sealed_at=datetime(2026, 3, 16, 11, 0))


def test_keys_round_trip_through_pem_with_and_without_passphrase(minutes: MinutesDoc) -> None:
    key = generate_private_key()
    plain = private_key_to_pem(key)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    encrypted = private_key_to_pem(key, "mật khẩu Ia Pa")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    for loaded in (load_private_key_pem(plain), load_private_key_pem(encrypted.decode(), "mật khẩu Ia Pa")):
        assert public_key_b64(loaded) == public_key_b64(key)
        assert verify(minutes, seal(minutes, loaded), public_key=public_key_b64(key))
    with pytest.raises(SealKeyError):
        load_private_key_pem(encrypted, "sai mật khẩu")
    with pytest.raises(SealKeyError):
        load_private_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    public_pem = public_key_to_pem(key)
    assert public_key_b64(load_public_key(public_pem)) == public_key_b64(key)
    with pytest.raises(SealKeyError):
        load_public_key(base64.b64encode(b"short").decode())
