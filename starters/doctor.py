"""`bizos doctor`'s checks: is every dependency of the platform there and usable, and if
not, which command fixes it.

Each check returns results (``ok``, ``warn``, ``skip`` or ``fail``, with the fix for a
failure) and runs under its own deadline, so a dead or black-holed dependency costs at most
that long and never hangs the command. Independent checks run at once; the blob probe waits
for the database, provider keys for the secrets backend they are read from.

Nothing here imports crewai or an LLM SDK: provider keys are checked through the secrets
layer, and ``online`` makes one cheap real call per provider (listing its models: no tokens).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Status = Literal["ok", "warn", "skip", "fail"]
DEFAULT_TIMEOUT_S = 5.0
DOCTOR_TENANT = "bizos-doctor"  # the blob probe's tenant: a valid id no customer is given


@dataclass
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str | None = None
    seconds: float = 0.0


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "ok", detail)


def fail(name: str, detail: str, fix: str | None) -> CheckResult:
    return CheckResult(name, "fail", detail, fix)


@dataclass
class Report:
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed": [c.name for c in self.checks if c.status == "fail"],
            "checks": [asdict(c) for c in self.checks],
        }


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    if not text:
        return type(e).__name__
    if "ConnectionRefused" in text[0] or "Connection refused" in text[0]:
        return "connection refused"  # the core SDK's transport error is a page long
    line = text[0] if len(text[0]) <= 240 else text[0][:237] + "..."
    return f"{type(e).__name__}: {line}"


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a daemon thread of its own. Not ``asyncio.to_thread``: the default
    executor is joined when the event loop closes, so one client stuck on a black-holed
    server (hvac's own timeout can be a minute) would hold the command past its deadline."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # the deadline passed meanwhile
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def work() -> None:
        try:
            value = fn(*args)
        except BaseException as e:
            loop.call_soon_threadsafe(settle, None, e)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=work, name="bizos-doctor-check", daemon=True).start()
    return await future


async def bounded(
    name: str, fix: str, timeout_s: float, check: Callable[[], Awaitable[list[CheckResult]]]
) -> list[CheckResult]:
    """Run ``check`` within ``timeout_s``; a timeout or an unexpected error is a failure
    with ``fix``. Blocking clients run in daemon threads (`in_daemon_thread`), which the
    deadline cannot stop but the command does not wait for."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            results = await check()
    except TimeoutError:
        results = [fail(name, f"no answer within {timeout_s:g} s", fix)]
    except Exception as e:
        results = [fail(name, _first_line(e), fix)]
    took = round(time.monotonic() - start, 3)
    for r in results:
        r.seconds = took
    return results


# --- Temporal -------------------------------------------------------------------------------


def _temporal_fix(address: str) -> str:
    host, _, port = address.rpartition(":")
    if host in ("127.0.0.1", "localhost"):  # a local server: the embedded one, not started
        flag = "" if port == "7233" else f" --port {port}"
        return f"start the embedded server and workers: `bizos dev{flag}` (or set TEMPORAL_ADDRESS)"
    return (
        f"check TEMPORAL_ADDRESS ({address}), TEMPORAL_NAMESPACE and the API key / TLS "
        "settings (TEMPORAL_API_KEY, TEMPORAL_TLS_*; docs/encryption_and_cloud.md)"
    )


async def check_temporal(timeout_s: float) -> list[CheckResult]:
    from worker.connection import connect_config

    try:
        config = connect_config()
    except ValueError as e:
        return [fail("temporal", str(e), "fix the Temporal connection settings")]
    address, namespace = config["target_host"], config["namespace"]
    fix = _temporal_fix(address)
    return await bounded(
        "temporal", fix, timeout_s, lambda: _temporal(config, address, namespace, fix)
    )


async def _temporal(
    config: dict[str, Any], address: str, namespace: str, fix: str
) -> list[CheckResult]:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    from workflows import search_attributes as sa

    try:
        # No platform plugin: these are service calls only, no payloads to convert.
        client = await Client.connect(**config)
    except RuntimeError as e:
        return [fail("temporal", f"cannot reach Temporal at {address}: {_first_line(e)}", fix)]
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return [
            fail(
                "temporal",
                f"namespace {namespace} does not exist at {address} (on Temporal Cloud, "
                "create it in the Cloud console)",
                f"temporal operator namespace create --address {address} --namespace {namespace}",
            )
        ]
    results = [ok("temporal", f"reachable at {address}, namespace {namespace}")]
    try:
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as e:
        # The server answers, so starting one is not the fix: say what it refused.
        return [
            *results,
            fail(
                "search attributes",
                f"cannot list the search attributes of {namespace}: {e.message}",
                "a namespace created moments ago needs a few seconds before every service "
                "knows it: run doctor again; otherwise check that the API key or "
                "certificate may call the operator service",
            ),
        ]
    kinds = {"KEYWORD_LIST": "KeywordList", "KEYWORD": "Keyword"}
    problems: list[str] = []
    commands: list[str] = []
    for key in sa.ALL:
        want = key.indexed_value_type.name
        have = resp.custom_attributes.get(key.name)
        if have is None:
            problems.append(f"{key.name} is missing")
            commands.append(
                f"temporal operator search-attribute create --address {address} "
                f"--namespace {namespace} --name {key.name} --type {kinds[want]}"
            )
        elif IndexedValueType.Name(have) != f"INDEXED_VALUE_TYPE_{want}":
            problems.append(f"{key.name} is {IndexedValueType.Name(have)}, not {kinds[want]}")
    names = ", ".join(k.name for k in sa.ALL)
    if not problems:
        results.append(ok("search attributes", f"{names} registered in {namespace}"))
    else:
        results.append(
            fail(
                "search attributes",
                f"namespace {namespace}: " + "; ".join(problems),
                " && ".join(commands)
                or "a search attribute of the wrong type must be deleted and created again "
                "with the type above (`temporal operator search-attribute`)",
            )
        )
    return results


# --- the store: database, migrations, blobs ---------------------------------------------------


STORE_FIX = (
    "check BIZOS_DATABASE_URL (PostgreSQL reachable, user and database exist); unset, the "
    "store is a SQLite file under BIZOS_HOME"
)
MIGRATE_FIX = (
    "back up (`bizos backup FILE`), then let the store migrate itself: it does when a "
    "worker or a store command opens it, e.g. `bizos tenants list`"
)


async def check_store(timeout_s: float) -> list[CheckResult]:
    """Database reachable, migrations at this code's head, then a blob probe."""
    from store import Store, StoreSettings

    try:
        settings = StoreSettings()
    except ValueError as e:
        return [fail("database", _first_line(e), STORE_FIX)]
    store: Store | None = None
    sqlite_file = settings.home / "bizos.db"
    if not settings.database_url and not sqlite_file.exists():
        # The embedded default: made and migrated at first use; doctor creates nothing.
        reason = f"no store yet at {sqlite_file}: `bizos dev` (or any store command) makes it"
        return [
            CheckResult("database", "skip", reason),
            CheckResult("migrations", "skip", reason),
            CheckResult("blob store", "skip", reason),
        ]

    async def database() -> list[CheckResult]:
        nonlocal store
        from sqlalchemy import text

        opened = await Store.open(settings, migrate=False)  # doctor looks, never changes
        store = opened
        async with opened.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        where = opened.engine.url.render_as_string(hide_password=True)
        return [ok("database", f"{opened.engine.dialect.name} at {where}")]

    try:
        results = await bounded("database", STORE_FIX, timeout_s, database)
        if results[0].status == "fail" or store is None:
            reason = "the database is unreachable"
            return [
                *results,
                CheckResult("migrations", "skip", reason),
                CheckResult("blob store", "skip", reason),
            ]
        opened: Store = store
        results += await bounded("migrations", MIGRATE_FIX, timeout_s, lambda: _migrations(opened))
        if "never migrated" in results[-1].detail:
            return [*results, CheckResult("blob store", "skip", "the store has no tables yet")]
        results += await bounded(
            "blob store", _blob_fix(settings), timeout_s, lambda: _blob_probe(opened)
        )
        return results
    finally:
        if store is not None:
            await store.close()


def _heads() -> tuple[set[str], set[str]]:
    """(head revisions, every known revision) of this code's migrations."""
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return set(script.get_heads()), {r.revision for r in script.walk_revisions()}


async def _migrations(store: Any) -> list[CheckResult]:
    from store.migrate import current_revision

    current = await current_revision(store.engine)
    heads, known = _heads()
    head = ", ".join(sorted(heads))
    if current in heads:
        return [ok("migrations", f"at {current} (this code's head)")]
    if current is None:
        return [fail("migrations", f"the database was never migrated (head: {head})", MIGRATE_FIX)]
    if current not in known:
        return [
            fail(
                "migrations",
                f"the database is at {current}, which this code does not know (newer?)",
                "upgrade bizos to the version that migrated this database",
            )
        ]
    return [fail("migrations", f"at {current}, behind this code's head {head}", MIGRATE_FIX)]


def _blob_fix(settings: Any) -> str:
    if settings.blob_backend == "s3":
        return (
            f"check BIZOS_S3_BUCKET ({settings.s3_bucket}) exists at "
            f"{settings.s3_endpoint_url or 'AWS S3'} and the AWS_* credentials may write it"
        )
    return "the store's database must accept writes (see the database check)"


async def _blob_probe(store: Any) -> list[CheckResult]:
    from store.blobs import BlobRef

    probe = uuid.uuid4().bytes * 8  # unique: never the content of a real blob
    run_id = uuid.uuid4().hex
    ref = await store.put_blob(
        DOCTOR_TENANT, probe, "probe.bin", workflow_id="bizos-doctor", run_id=run_id
    )
    try:
        back = b"".join([chunk async for chunk in store.open_blob(ref)])
    finally:
        await store.blobs.delete(BlobRef.parse(str(ref)))
    if back != probe:
        return [
            fail("blob store", "the probe read back different bytes", _blob_fix(store.settings))
        ]
    where = store.settings.blob_backend
    if where == "s3":
        where = f"s3://{store.settings.s3_bucket}/{store.settings.s3_prefix}"
    return [ok("blob store", f"wrote, read and deleted a probe ({where})")]


# --- Redis ------------------------------------------------------------------------------------


async def check_redis(timeout_s: float) -> list[CheckResult]:
    from api.redis_conn import RedisSettings, make_client, redact

    settings = RedisSettings()
    url = settings.url()
    if url is None:
        return [
            CheckResult(
                "redis", "skip", "BIZOS_REDIS_URL=none: limits in-process (one API node only)"
            )
        ]
    where = redact(url)
    if settings.explicit:
        fix = f"start Redis at {where}, or correct BIZOS_REDIS_URL"
    else:
        fix = f"start Redis on {where} (e.g. `redis-server`), or set BIZOS_REDIS_URL"

    async def ping() -> list[CheckResult]:
        client = make_client(url, min(settings.redis_timeout_s, timeout_s))
        try:
            await client.ping()  # type: ignore[misc]  # redis-py types sync and async as one
        finally:
            await client.aclose()
        return [ok("redis", f"answers at {where}")]

    results = await bounded("redis", fix, timeout_s, ping)
    if results[0].status == "fail" and not settings.explicit:
        # Unset means "use it when it is there": the API keeps limits in-process instead.
        results[0].status = "warn"
        results[0].detail += (
            " — the API would keep rate limits and idempotency records in-process "
            "(single node only); set BIZOS_REDIS_URL=none if that is intended"
        )
    return results


# --- secrets and LLM providers ----------------------------------------------------------------


SECRETS_FIX = (
    "check VAULT_ADDR and the credentials (VAULT_TOKEN, or VAULT_ROLE_ID + VAULT_SECRET_ID), "
    "and that the policy may read the KV mount (docs/secrets.md)"
)


async def check_vault(timeout_s: float) -> list[CheckResult]:
    """When ``BIZOS_SECRETS_BACKEND=vault``: log in and read the platform's secrets path.
    On success the Vault backend is installed, so provider keys are looked up there."""
    try:
        from activities.secrets.settings import SecretsSettings

        settings = SecretsSettings()
    except ImportError:  # a tree without the secrets layer: environment only
        return [CheckResult("vault", "skip", "no Vault backend in this version")]
    except ValueError as e:
        return [fail("vault", _first_line(e), SECRETS_FIX)]
    if settings.backend != "vault":
        return [
            CheckResult(
                "vault", "skip", "secrets from the environment and .env (BIZOS_SECRETS_BACKEND=env)"
            )
        ]

    async def login_and_read() -> list[CheckResult]:
        from activities.secrets import set_backend
        from activities.secrets.vault import VaultSecrets

        backend = VaultSecrets(settings)
        # hvac is synchronous: off the event loop, so the deadline holds.
        await in_daemon_thread(backend.auth.call, lambda client: None)
        await in_daemon_thread(backend.get, "BIZOS_DOCTOR_PROBE")
        set_backend(backend)
        return [
            ok(
                "vault",
                f"logged in at {settings.vault_addr} and read "
                f"{settings.mount}/{backend.platform_path}",
            )
        ]

    return await bounded("vault", SECRETS_FIX, timeout_s, login_and_read)


@dataclass
class ProviderUse:
    """One provider endpoint (provider + base URL) and where it is configured."""

    provider: str
    base_url: str | None
    models: set[str] = field(default_factory=set)
    explicit: set[str] = field(default_factory=set)  # env variables naming it
    ref: Any = None

    @property
    def name(self) -> str:
        suffix = f" at {self.base_url}" if self.base_url else ""
        return f"provider {self.provider}{suffix}"


def configured_providers() -> list[ProviderUse]:
    """Every provider a step could use: the env chains (``BIZOS_PROVIDERS``,
    ``BIZOS_PROVIDERS_<AGENT>``; explicit, so a missing key is a failure) and the catalog's
    chains of the agents they leave alone (defaults: without a key a step skips that link,
    or runs offline). Chains in tenants' configuration versions are checked at run time."""
    import os

    from activities.catalog import default_catalog
    from activities.providers.refs import parse_chain

    uses: dict[tuple[str, str | None], ProviderUse] = {}

    def add(refs: list[Any], source: str | None) -> None:
        for ref in refs:
            if ref.provider == "offline":
                continue
            use = uses.setdefault(
                (ref.provider, ref.base_url), ProviderUse(ref.provider, ref.base_url, ref=ref)
            )
            use.models.add(ref.model)
            if source:
                use.explicit.add(source)

    def env_chain(name: str) -> bool:
        value = os.environ.get(name, "").strip()
        if value:
            add(parse_chain(value), name)
        return bool(value)

    # The precedence of `activities.providers.resolve`: an agent's own variable, then
    # BIZOS_PROVIDERS for every agent, else the catalog.
    everyone = env_chain("BIZOS_PROVIDERS")
    for agent in default_catalog():
        if env_chain(f"BIZOS_PROVIDERS_{agent.id.upper()}") or everyone:
            continue
        for mode in agent.modes:
            add(agent.provider_chain(mode), None)
    return sorted(uses.values(), key=lambda u: (u.provider, u.base_url or ""))


async def check_providers(timeout_s: float, *, online: bool) -> list[CheckResult]:
    try:
        uses = configured_providers()
    except ValueError as e:
        return [fail("providers", _first_line(e), "fix BIZOS_PROVIDERS (docs/providers.md)")]
    checks = [_check_provider(use, timeout_s, online) for use in uses]
    return [r for results in await asyncio.gather(*checks) for r in results]


def _key_fix(use: ProviderUse) -> str:
    names = " or ".join(use.ref.key_secrets())
    if not names:
        return (
            f"check that the server at {use.base_url} is up and whether it wants a key "
            "(name its secret with api_key_secret in BIZOS_PROVIDERS; docs/providers.md)"
        )
    return (
        f"set {names} in the environment or .env, or in Vault under <prefix>/platform "
        "(docs/secrets.md)"
    )


async def _check_provider(use: ProviderUse, timeout_s: float, online: bool) -> list[CheckResult]:
    from activities.providers.credentials import api_key_for

    models = ", ".join(sorted(use.models))
    where = f"named by {', '.join(sorted(use.explicit))}" if use.explicit else "catalog default"

    async def look() -> list[CheckResult]:
        key = await in_daemon_thread(api_key_for, use.ref)  # Vault reads block
        if use.provider != "openai_compatible" and not key:
            names = " or ".join(use.ref.key_secrets())
            if use.explicit:
                return [fail(use.name, f"no key ({names}); {where}: {models}", _key_fix(use))]
            return [
                CheckResult(
                    use.name,
                    "skip",
                    f"no key ({names}): chains skip it, steps with no usable link run "
                    f"offline ({models})",
                )
            ]
        if not online:
            have = "key present" if key else "no key needed"
            return [ok(use.name, f"{have} ({where}: {models}); --online calls it")]
        return [await _call_provider(use, key, models)]

    return await bounded(use.name, _key_fix(use), timeout_s, look)


MODEL_LISTS = {
    "openai": "https://api.openai.com/v1/models",
    "anthropic": "https://api.anthropic.com/v1/models",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models",
}


async def _call_provider(use: ProviderUse, key: str | None, models: str) -> CheckResult:
    """List the provider's models: a real authenticated call that bills no tokens."""
    import httpx

    base = (use.base_url or "").rstrip("/")
    url = f"{base}/models" if base else MODEL_LISTS[use.provider]
    headers: dict[str, str] = {}
    if use.provider == "anthropic":
        headers = {"x-api-key": key or "", "anthropic-version": "2023-06-01"}
    elif use.provider == "gemini":
        headers = {"x-goog-api-key": key or ""}
    elif key:
        headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(url, headers=headers)
    if resp.status_code in (401, 403):
        return fail(use.name, f"{url} refused the key (HTTP {resp.status_code})", _key_fix(use))
    if resp.status_code >= 400:
        return fail(
            use.name,
            f"{url} answered HTTP {resp.status_code}",
            "check the provider's status page, base_url and the model names",
        )
    return ok(use.name, f"{url} accepted the key ({models})")


# --- all of it --------------------------------------------------------------------------------


async def run_checks(timeout_s: float = DEFAULT_TIMEOUT_S, *, online: bool = False) -> Report:
    async def secrets_then_providers() -> list[CheckResult]:
        vault = await check_vault(timeout_s)
        if vault[0].status == "fail":
            reason = "secrets backend unavailable: provider keys cannot be read"
            return [*vault, CheckResult("providers", "skip", reason)]
        return vault + await check_providers(timeout_s, online=online)

    groups = await asyncio.gather(
        check_temporal(timeout_s),
        check_store(timeout_s),
        check_redis(timeout_s),
        secrets_then_providers(),
    )
    return Report([r for group in groups for r in group])
