"""Payload encryption: an AES-256-GCM payload codec with key ids, for the plugin's codec slot.

Every payload the platform hands to Temporal (workflow and activity inputs and results,
signals, updates, queries, memo, user metadata, failure messages and details) is sealed with
the *active* key before it leaves the process; the Temporal server, its database and anyone
reading histories see only ciphertext. Each sealed payload names its key id in its (plaintext)
metadata, so several keys can be known at once: rotation adds a new key and makes it active,
while runs that recorded payloads under an older key keep decoding as long as that key stays
listed.

Settings (`PayloadKeySettings`, from the environment or `.env`):

* ``BIZOS_PAYLOAD_KEYS`` — ``id:base64key,...``, oldest first; each key 32 random bytes
  (``openssl rand -base64 32``). Unset or empty: no encryption.
* ``BIZOS_PAYLOAD_ACTIVE_KEY`` — the id that encrypts; default the last one listed.

Search attributes are never encrypted (the server indexes them): no secrets there.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultFailureConverter, PayloadCodec

KEYS_VAR = "BIZOS_PAYLOAD_KEYS"
ACTIVE_VAR = "BIZOS_PAYLOAD_ACTIVE_KEY"

ENCODING = b"binary/encrypted"
CIPHER = b"AES-256-GCM"
KEY_ID_META = "encryption-key-id"
CIPHER_META = "encryption-cipher"
KEY_BYTES = 32
NONCE_BYTES = 12
# Key ids travel in plaintext metadata and in settings split on ':' and ','.
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NEW_KEY_HINT = "make one with `openssl rand -base64 32`"


class PayloadKeyError(ValueError):
    """The key settings are unusable (names the variable and the key id, never key bytes)."""


class UnknownPayloadKey(RuntimeError):
    """A payload was sealed with a key id this process does not know."""

    def __init__(self, key_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"payload encrypted with key id {key_id!r}, which is not in {KEYS_VAR} "
            f"(known ids: {', '.join(known) or 'none'}); add that key back to {KEYS_VAR} "
            "to read it — keys can only be retired once no open run or retained history "
            "uses them"
        )
        self.key_id = key_id


class PayloadDecryptError(RuntimeError):
    """The payload names a known key id but does not open with it (altered, or a different
    key under the same id)."""


def parse_keys(text: str) -> dict[str, bytes]:
    """`id:base64key,...` into {id: key}, in the order given."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep:
            raise PayloadKeyError(f"{KEYS_VAR}: entry {n} is not `id:base64key`")
        if not KEY_ID.fullmatch(key_id):
            raise PayloadKeyError(
                f"{KEYS_VAR}: key id {key_id!r} must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if key_id in keys:
            raise PayloadKeyError(f"{KEYS_VAR}: key id {key_id!r} is listed twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(
                f"{KEYS_VAR}: key {key_id!r} is not valid base64; {NEW_KEY_HINT}"
            ) from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(
                f"{KEYS_VAR}: key {key_id!r} is {len(key)} bytes; AES-256-GCM needs "
                f"{KEY_BYTES}; {NEW_KEY_HINT}"
            )
        keys[key_id] = key
    return keys


class PayloadKeySettings(BaseSettings):
    # hide_input_in_errors: a validation error would otherwise quote the key material
    model_config = SettingsConfigDict(
        env_prefix="BIZOS_PAYLOAD_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    keys: SecretStr = Field(
        default=SecretStr(""), description="`id:base64key,...`, oldest first; empty: no encryption"
    )
    active_key: str = Field(default="", description="the id that encrypts; default the last")

    @field_validator("keys")
    @classmethod
    def _parseable(cls, value: SecretStr) -> SecretStr:
        parse_keys(value.get_secret_value())  # refuse bad keys at load, naming the variable
        return value

    @model_validator(mode="after")
    def _active_is_known(self) -> PayloadKeySettings:
        if self.active_key and self.active_key not in self.keyring():
            raise PayloadKeyError(
                f"{ACTIVE_VAR} is {self.active_key!r}, which is not an id in {KEYS_VAR} "
                f"(ids: {', '.join(self.keyring()) or 'none'})"
            )
        return self

    def keyring(self) -> dict[str, bytes]:
        return parse_keys(self.keys.get_secret_value())

    def active(self) -> str | None:
        ring = self.keyring()
        return self.active_key or (list(ring)[-1] if ring else None)


class AesGcmCodec(PayloadCodec):
    """Seals each payload (its whole protobuf: metadata and data) with the active key.

    The key id is bound as associated data, so a payload relabelled with another id fails
    to open instead of being read under the wrong key. Payloads without the encrypted
    encoding pass through on decode: histories written before encryption was turned on stay
    readable."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise PayloadKeyError(f"{ACTIVE_VAR}: {active!r} is not among the keys given")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        key_id = self.active.encode()
        # Random 96-bit nonces: safe for ~2^32 payloads per key; rotation resets the count.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_META: key_id, CIPHER_META: CIPHER},
            data=nonce + sealed,
        )

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_META, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownPayloadKey(key_id, self.key_ids)
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadDecryptError(
                f"payload sealed with key id {key_id!r} does not decrypt with that key: it "
                f"was altered, or {KEYS_VAR} holds different key bytes under that id"
            ) from None
        return Payload.FromString(plain)


class SealedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces travel inside a payload (which the codec seals)
    instead of plaintext fields: an error quoting its input would otherwise put that input in
    the history. Readers without the codec see "Encoded failure"."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def codec_from(settings: PayloadKeySettings) -> AesGcmCodec | None:
    active = settings.active()
    return AesGcmCodec(settings.keyring(), active) if active else None


def load_codec() -> AesGcmCodec | None:
    """The codec configured by the environment, or None when no key is set."""
    try:
        settings = PayloadKeySettings()
    except ValidationError as e:
        # pydantic wraps our messages; give the caller just them.
        raise PayloadKeyError(
            "; ".join(str(err.get("ctx", {}).get("error", err["msg"])) for err in e.errors())
        ) from None
    return codec_from(settings)


def new_key() -> str:
    """A fresh key, base64 (what `openssl rand -base64 32` prints)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()
