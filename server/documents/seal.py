"""Sealing a document version: SHA-256 of its canonical JSON, signed with the approving user's Ed25519 key.

What is signed is not the document bytes alone but a small statement binding the fingerprint to the time of
sealing: ``b"giaoban-seal-v1\\n"`` followed by the canonical JSON of ``{"algorithm", "sealed_at", "sha256"}``.
So neither the document nor ``sealed_at`` can change without the signature failing.

``verify`` with only the seal proves the document is unchanged since someone holding the key in the seal
sealed it; pass ``public_key`` (the approving user's key as the server stored it) to prove who that was.

Keys: ``generate_private_key``; PEM (PKCS#8, optionally encrypted with a passphrase) for keeping one key per
approving user; the public key travels as base64 of its 32 raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.documents.canonical import Document, canonical_bytes
from server.errors import InvalidInput

__all__ = [
    "ALGORITHM",
    "Seal",
    "SealKeyError",
    "canonical_bytes",
    "generate_private_key",
    "load_private_key_pem",
    "load_public_key",
    "private_key_to_pem",
    "public_key_b64",
    "public_key_to_pem",
    "seal",
    "verify",
]

logger = logging.getLogger(__name__)

ALGORITHM = "Ed25519"
SEAL_CONTEXT = b"giaoban-seal-v1\n"
RAW_PUBLIC_KEY_BYTES = 32


class SealKeyError(InvalidInput):
    """A signing key that cannot be used: wrong passphrase, not Ed25519, or not a key at all."""

    code = "invalid_signing_key"


@dataclass(frozen=True)
class Seal:
    """The seal of one document version. ``sealed_at`` is timezone-aware (UTC when made by ``seal``)."""

    sha256_hex: str
    signature_b64: str
    public_key_b64: str
    algorithm: str = ALGORITHM
    sealed_at: datetime = field(kw_only=True)

    def to_json(self) -> str:
        """The seal as compact JSON, for storage next to the sealed version."""
        values = asdict(self)
        values["sealed_at"] = self.sealed_at.isoformat()
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Seal:
        values = json.loads(text)
        values["sealed_at"] = datetime.fromisoformat(values["sealed_at"])
        return cls(**values)


def _statement(sha256_hex: str, sealed_at: datetime, algorithm: str) -> bytes:
    """The bytes that the signature covers."""
    return SEAL_CONTEXT + canonical_bytes(
        {"algorithm": algorithm, "sealed_at": sealed_at.isoformat(), "sha256": sha256_hex}
    )


def _document_bytes(doc_or_bytes: Document | Mapping[str, Any] | bytes) -> bytes:
    return doc_or_bytes if isinstance(doc_or_bytes, bytes) else canonical_bytes(doc_or_bytes)


def seal(
    doc: Document | Mapping[str, Any] | bytes,
    private_key: Ed25519PrivateKey,
    *,
    sealed_at: datetime | None = None,
) -> Seal:
    """Seal ``doc`` (a document, or canonical bytes already made) with ``private_key``."""
    moment = sealed_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("sealed_at must be timezone-aware")
    digest = hashlib.sha256(_document_bytes(doc)).hexdigest()
    signature = private_key.sign(_statement(digest, moment, ALGORITHM))
    made = Seal(
        sha256_hex=digest,
        signature_b64=base64.b64encode(signature).decode("ascii"),
        public_key_b64=public_key_b64(private_key),
        algorithm=ALGORITHM,
        sealed_at=moment,
    )
    logger.info("sealed document sha256=%s key=%s", digest, made.public_key_b64)
    return made


def verify(
    doc_or_bytes: Document | Mapping[str, Any] | bytes,
    seal: Seal,
    *,
    public_key: Ed25519PublicKey | str | bytes | None = None,
) -> bool:
    """True when ``seal`` is a valid seal of exactly this document (and, if given, by ``public_key``)."""
    if seal.algorithm != ALGORITHM or seal.sealed_at.tzinfo is None:
        return False
    digest = hashlib.sha256(_document_bytes(doc_or_bytes)).hexdigest()
    if not hmac.compare_digest(digest, seal.sha256_hex):
        return False
    try:
        sealed_key = load_public_key(seal.public_key_b64)
        signature = base64.b64decode(seal.signature_b64, validate=True)
        if public_key is not None:
            trusted = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
            if not hmac.compare_digest(_raw_public(trusted), _raw_public(sealed_key)):
                return False
        sealed_key.verify(signature, _statement(digest, seal.sealed_at, seal.algorithm))
    except (InvalidSignature, SealKeyError, binascii.Error, ValueError):
        return False
    return True


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, passphrase: str | bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if passphrase:
        encryption = serialization.BestAvailableEncryption(_passphrase_bytes(passphrase))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key_pem(pem: bytes | str, passphrase: str | bytes | None = None) -> Ed25519PrivateKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, _passphrase_bytes(passphrase) if passphrase else None)
    except (ValueError, TypeError) as error:
        raise SealKeyError("Khóa ký không đọc được: sai mật khẩu hoặc tệp khóa không hợp lệ.") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise SealKeyError("Khóa ký phải là khóa Ed25519.")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Base64 of the 32 raw public-key bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(_raw_public(public)).decode("ascii")


def public_key_to_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: str | bytes) -> Ed25519PublicKey:
    """A public key from base64 of its raw bytes or from PEM (SubjectPublicKeyInfo)."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
            if not isinstance(key, Ed25519PublicKey):
                raise SealKeyError("Khóa công khai phải là khóa Ed25519.")
            return key
        decoded = base64.b64decode(raw, validate=True)
        if len(decoded) != RAW_PUBLIC_KEY_BYTES:
            raise SealKeyError("Khóa công khai Ed25519 phải dài 32 byte.")
        return Ed25519PublicKey.from_public_bytes(decoded)
    except (ValueError, binascii.Error) as error:
        raise SealKeyError("Khóa công khai không hợp lệ.") from error


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
