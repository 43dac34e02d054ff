"""Access and refresh tokens encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag), with key rotation.

The first key encrypts; every key decrypts, so a new key goes first and the old one stays until the tokens have been
re-encrypted (every refresh does that). Outside production, with no key set, one is generated once under instance/.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.config import ConfigError, Settings

DEV_KEY_FILE = "token-encryption.key"


class TokenCipher:
    """Encrypts and decrypts tokens; never logs or returns them anywhere but to its caller."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigError("LOYALTY_ENCRYPTION_KEY is empty: set at least one Fernet key")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ConfigError(
                "LOYALTY_ENCRYPTION_KEY must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each)"
            ) from None

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The token; raises InvalidToken when no key opens it (a key was dropped too early)."""
        return self._fernet.decrypt(ciphertext.encode()).decode()

    def rotate(self, ciphertext: str) -> str:
        """The same token under the newest key."""
        return self._fernet.rotate(ciphertext.encode()).decode()


def cipher_for(settings: Settings, instance_path: Path) -> TokenCipher:
    """The app's cipher: the configured keys, or in development and tests a key kept under instance/."""
    if settings.encryption_keys:
        return TokenCipher(settings.encryption_keys)
    if settings.is_production:
        raise ConfigError("LOYALTY_ENCRYPTION_KEY is required when APP_ENV=production")
    key_file = instance_path / DEV_KEY_FILE
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return TokenCipher((key_file.read_text().strip(),))


__all__ = ["InvalidToken", "TokenCipher", "cipher_for"]
