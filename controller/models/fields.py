"""A text column whose value is encrypted at rest with a key derived from ``DJANGO_SECRET_KEY``.

For credentials the controller must be able to use again (a Matrix access
token it logs in with on later reconciles), hashing is not an option; what
lies in the database file, a dump or a backup is Fernet ciphertext
(AES-128-CBC with an HMAC) instead. The key is derived from ``SECRET_KEY``
and its ``SECRET_KEY_FALLBACKS``: after rotating the secret key, values
written under an old key still read while that key is listed as a fallback,
and are written again under the new key the next time the row is saved
(docs/security.md, "Credentials at rest").
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)

# Ties the derived key to this use, so it is never the key of anything else.
_PURPOSE = b"hiclaw.io/encrypted-field/v1"


def _fernet_for(secret_key: str) -> Fernet:
    digest = hashlib.sha256(_PURPOSE + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def field_cipher() -> MultiFernet:
    """Encrypts with the current key; decrypts with it or any fallback key."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(key) for key in keys])


class EncryptedTextField(models.TextField):
    """Plain text in Python, ciphertext in the database; the empty string stays empty."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return field_cipher().encrypt(value.encode()).decode()

    def from_db_value(self, value: str | None, expression, connection) -> str | None:
        if not value:
            return value
        try:
            return field_cipher().decrypt(value.encode()).decode()
        except InvalidToken:
            # Read as "no credential": the reconciler logs in again and stores a new one.
            logger.warning(
                "%s.%s cannot be decrypted with DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FALLBACKS "
                "(was the key changed without listing the old one as a fallback?); treated as empty",
                self.model.__name__,
                self.name,
            )
            return ""
