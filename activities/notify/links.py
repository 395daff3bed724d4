"""Signed one-click decision links: `<BIZOS_PUBLIC_URL>/v1/links/<token>`.

A token is the JSON of `LinkClaims` signed with HMAC (itsdangerous) under the secret
``BIZOS_LINK_SIGNING_SECRET`` (read through `activities.secrets.get_secret`, so from Vault
when that backend is installed). It binds tenant, workflow id, step, principal, level, round
and the digest of what is to be judged, expires at the level's deadline, and carries an id
(``jti``) the API marks used on its one decision. Links carry no API key.

Minting is deterministic — no timestamp is signed and the id derives from the event id and
the principal — so a retried delivery sends the same links (and a link stays single-use
across retries).

Without the secret, production mode (``BIZOS_PRODUCTION`` / ``BIZOS_API_PRODUCTION``)
refuses to mint or read links; elsewhere a random secret is kept in
``$BIZOS_HOME/link_signing_secret`` (0600), which the API and workers of one machine share.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_NAME = "BIZOS_LINK_SIGNING_SECRET"
DEV_SECRET_FILE = "link_signing_secret"
SALT = "bizos.decision-link.v1"
DEFAULT_TTL = timedelta(days=7)
"""How long a link lives when its level has no deadline."""
PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "placeholder", "xxx", "test"})
LINK_PATH = "/v1/links/"


class LinkSecretMissing(RuntimeError):
    """Production mode without a real ``BIZOS_LINK_SIGNING_SECRET``."""


class InvalidLink(ValueError):
    """The token is not one this platform signed (or was altered)."""


class LinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("BIZOS_PUBLIC_URL"),
        description="where people reach the API: the base of every link",
    )
    production: bool = Field(
        default=False, validation_alias=AliasChoices("BIZOS_PRODUCTION", "BIZOS_API_PRODUCTION")
    )


class LinkClaims(BaseModel):
    """What a link is bound to (short keys: the token is part of a URL)."""

    tenant: str = Field(alias="t")
    workflow_id: str = Field(alias="w")
    step: str = Field(alias="s")
    principal: str = Field(alias="p")
    level: int = Field(alias="l")
    round: int = Field(alias="r")
    digest: str | None = Field(default=None, alias="d")
    expires: int = Field(alias="x", description="unix seconds: the level's deadline")
    jti: str = Field(alias="j", pattern=r"^[0-9a-f]{32}$")
    kind: str = Field(default="approval", alias="k", description="approval | choice")
    options: list[str] = Field(default_factory=list, alias="o")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at


def link_id(event_id: str, principal: str) -> str:
    """The token id of the link an event gives a principal: the same at every retry."""
    return hashlib.sha256(f"{event_id}\n{principal}".encode()).hexdigest()[:32]


def _dev_secret(home: Path) -> str:
    path = home / DEV_SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes creating it at once, one writes and both read its value
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def signing_secret(settings: LinkSettings | None = None) -> str:
    """The secret links are signed with. Blocking (the Vault backend makes HTTP calls): call
    it through ``asyncio.to_thread`` from async code."""
    from activities.secrets import get_secret

    settings = settings or LinkSettings()
    value = get_secret(SECRET_NAME)
    if value and value.strip().lower() not in PLACEHOLDERS:
        return value
    if settings.production:
        raise LinkSecretMissing(
            f"{SECRET_NAME} is unset or a placeholder; production mode refuses to sign or read "
            "decision links without it (put it in the secrets store)"
        )
    from store.settings import bizos_home

    return _dev_secret(bizos_home())


def _serializer(secret: str) -> Any:
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret, salt=SALT)


def mint(claims: LinkClaims, secret: str) -> str:
    return str(_serializer(secret).dumps(claims.model_dump(by_alias=True, exclude_defaults=True)))


def read(token: str, secret: str) -> LinkClaims:
    """The claims of a token this platform signed; `InvalidLink` otherwise (expiry is the
    caller's to check: an expired link still names where it pointed)."""
    from itsdangerous import BadSignature
    from pydantic import ValidationError

    if len(token) > 4096:
        raise InvalidLink("this link is not one of ours")
    try:
        raw = _serializer(secret).loads(token)
        return LinkClaims.model_validate(raw)
    except (BadSignature, ValidationError, TypeError, ValueError):
        raise InvalidLink("this link is not one of ours, or it was altered") from None


def link_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + LINK_PATH + token


def _deadline(data: dict[str, Any], occurred_at: datetime) -> datetime:
    raw = data.get("deadline")
    if isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        except ValueError:
            pass
    return occurred_at + DEFAULT_TTL


def claims_for(
    *,
    event_id: str,
    tenant: str,
    occurred_at: datetime,
    data: dict[str, Any],
    principals: list[str],
) -> dict[str, LinkClaims]:
    """Claims of the links a `waiting_for_person` event gives each of `principals`."""
    deadline = _deadline(data, occurred_at)
    options = data.get("options") or []
    return {
        p: LinkClaims(
            tenant=tenant,
            workflow_id=str(data["workflow_id"]),
            step=str(data["step"]),
            principal=p,
            level=int(data.get("level") or 0),
            round=int(data.get("round") or 0),
            digest=data.get("digest"),
            expires=int(deadline.timestamp()),
            jti=link_id(event_id, p),
            kind=str(data.get("kind") or "approval"),
            options=[str(o) for o in options] if isinstance(options, list) else [],
        )
        for p in principals
    }


def approvers_of(data: dict[str, Any]) -> list[str]:
    """The principals a waiting event names (its level's snapshot); none when any approver
    of the tenant may decide (nobody is named, so nobody gets a link)."""
    found = data.get("approvers")
    if not isinstance(found, list):
        return []
    return [str(p) for p in found if isinstance(p, str) and p]


def links_for(
    *,
    event_id: str,
    tenant: str,
    occurred_at: datetime,
    data: dict[str, Any],
    secret: str,
    public_url: str,
    principals: list[str] | None = None,
) -> dict[str, str]:
    """``{principal: url}`` for the approvers of a `waiting_for_person` event's data."""
    if "workflow_id" not in data or "step" not in data:
        return {}
    who = approvers_of(data) if principals is None else principals
    claims = claims_for(
        event_id=event_id, tenant=tenant, occurred_at=occurred_at, data=data, principals=who
    )
    return {p: link_url(public_url, mint(c, secret)) for p, c in claims.items()}


async def data_with_links(
    event_id: str, tenant: str, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """A `waiting_for_person` event's data with ``links: {principal: url}`` added, minted at
    delivery time (never in a workflow history). Without a usable secret the data says why
    under ``links_error`` instead: the event still tells the receiver someone must decide."""
    import asyncio

    if not approvers_of(data):
        return data
    settings = LinkSettings()
    try:
        secret = await asyncio.to_thread(signing_secret, settings)
    except LinkSecretMissing as e:
        return {**data, "links_error": str(e)}
    links = links_for(
        event_id=event_id,
        tenant=tenant,
        occurred_at=occurred_at,
        data=data,
        secret=secret,
        public_url=settings.public_url,
    )
    return {**data, "links": links}
