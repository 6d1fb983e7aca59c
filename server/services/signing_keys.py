"""The server secret and the per-user Ed25519 keys that seal approved documents.

Each approving user has one Ed25519 key (``SigningKey``), made on first use by :func:`signing_key_for`; its
private part is stored as PKCS#8 PEM encrypted with the server secret, and its public part (base64) is what
verification trusts (:func:`trusted_public_key_b64`). The server secret is ``settings.secret_key``, else one
generated once into ``<data_dir>/secret.key`` with mode 0600 (:func:`server_secret`).
"""

from __future__ import annotations

import logging
import os
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.config import Settings
from server.documents import seal as doc_seal
from server.models import SigningKey

log = logging.getLogger(__name__)

SECRET_FILE = "secret.key"
SECRET_BYTES = 32


def server_secret(settings: Settings) -> str:
    """``settings.secret_key``, else the secret in ``<data_dir>/secret.key`` (created once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(SECRET_BYTES))
            log.info("generated the server secret in %s", path)
    return path.read_text(encoding="ascii").strip()


def signing_key_for(session: Session, settings: Settings, user_id: int) -> Ed25519PrivateKey:
    """The user's sealing key, made on first use (private part encrypted with the server secret)."""
    row = session.scalar(select(SigningKey).where(SigningKey.user_id == user_id).order_by(SigningKey.id))
    secret = server_secret(settings)
    if row is not None:
        return doc_seal.load_private_key_pem(row.private_key_pem, secret)
    key = doc_seal.generate_private_key()
    session.add(
        SigningKey(
            user_id=user_id,
            public_key_b64=doc_seal.public_key_b64(key),
            private_key_pem=doc_seal.private_key_to_pem(key, secret).decode("ascii"),
        )
    )
    session.flush()
    return key


def trusted_public_key_b64(session: Session, user_id: int | None) -> str | None:
    """The public key (base64) of the user's sealing key, or None when the user has none."""
    return session.scalar(
        select(SigningKey.public_key_b64).where(SigningKey.user_id == user_id).order_by(SigningKey.id)
    )
