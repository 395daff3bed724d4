"""The Dokploy deployment (deploy/dokploy/) checked without a Docker engine (none runs here):
the compose file against the compose-spec schema and the rules Dokploy needs, the settings
the BizOS services are given against the settings the code reads (derived from the code and
the libraries, so a renamed setting fails here rather than silently in production), the
Traefik routing, the pools, the Dockerfiles through hadolint, the scripts through shellcheck,
the hardening script's dry run, and the image's healthcheck command.
"""

from __future__ import annotations

import ast
import functools
import http.server
import importlib
import os
import re
import subprocess
import sys
import sysconfig
import threading
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[2]
DOKPLOY = ROOT / "deploy" / "dokploy"
COMPOSE = DOKPLOY / "docker-compose.yml"
ENV_EXAMPLE = DOKPLOY / ".env.example"
DOCKERFILE = DOKPLOY / "Dockerfile"
DOCKERFILES = [DOCKERFILE, *sorted((DOKPLOY / "images").glob("*.Dockerfile"))]
HARDEN = DOKPLOY / "harden-vps.sh"
HEALTHCHECK = DOKPLOY / "healthcheck.py"
VENV_BIN = Path(sysconfig.get_path("scripts"))
APP_DOCKERFILE = "deploy/dokploy/Dockerfile"  # as the compose file's build sections name it


# --- the compose file -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and data.get("services"), f"{COMPOSE}: no services"
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def bizos_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services running the platform's own image (built from deploy/dokploy/Dockerfile)."""
    return {
        name: svc
        for name, svc in services(compose).items()
        if isinstance(svc.get("build"), dict) and svc["build"].get("dockerfile") == APP_DOCKERFILE
    }


def environment(svc: dict[str, Any]) -> dict[str, Any]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [
            str(VENV_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_an_image_or_build_and_a_healthcheck(compose: dict[str, Any]) -> None:
    problems = []
    for name, svc in services(compose).items():
        if not (svc.get("image") or svc.get("build")):
            problems.append(f"{name}: neither image nor build")
        check = svc.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test or test in ("NONE", ["NONE"]):
            problems.append(f"{name}: no healthcheck")
    assert not problems, problems


def test_no_container_name_and_no_relative_bind_mounts(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    problems = []
    for name, svc in services(compose).items():
        if "container_name" in svc:
            problems.append(f"{name}: container_name breaks Dokploy's logs and scaling")
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source in named:
                continue
            if not (isinstance(source, str) and source.startswith("/")):
                problems.append(
                    f"{name}: bind mount {source!r} is not a named volume or an "
                    "absolute host path (Dokploy re-clones the repo on each deploy)"
                )
        for config in svc.get("configs") or []:
            target = config if isinstance(config, str) else config.get("source")
            spec = (compose.get("configs") or {}).get(target, {})
            if str(spec.get("file", "")).startswith("."):
                problems.append(f"{name}: config {target} is a file next to the compose file")
    assert not problems, problems


def test_api_is_routed_by_traefik_with_tls(compose: dict[str, Any]) -> None:
    api = services(compose)["api"]
    labels = api["labels"]
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels)
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.docker.network"] == "dokploy-network"
    assert "dokploy-network" in api["networks"]
    assert compose["networks"]["dokploy-network"]["external"] is True

    routers: dict[str, dict[str, str]] = {}
    for key, value in labels.items():
        m = re.fullmatch(r"traefik\.http\.routers\.([^.]+)\.(.+)", key)
        if m:
            routers.setdefault(m[1], {})[m[2]] = str(value)
    secure = [r for r in routers.values() if r.get("entrypoints") == "websecure"]
    assert secure, f"no router on the websecure entrypoint: {routers}"
    for router in secure:
        assert re.search(r"Host\(`\$\{BIZOS_DOMAIN[:}]", router["rule"]), router["rule"]
        assert router.get("tls") == "true"
        assert router.get("tls.certresolver") == "letsencrypt"
    # plain HTTP only redirects
    for router in routers.values():
        if router.get("entrypoints") == "web":
            middleware = router["middlewares"]
            assert labels[f"traefik.http.middlewares.{middleware}.redirectscheme.scheme"] == "https"
    # Traefik forwards to the port the API listens on
    port = api["command"][api["command"].index("--port") + 1]
    lb_ports = {v for k, v in labels.items() if k.endswith(".loadbalancer.server.port")}
    assert lb_ports == {port}
    # /metrics stays inside the stack (Prometheus scrapes it there)
    assert all("!PathPrefix(`/metrics`)" in r["rule"] for r in secure)


def test_one_service_per_pool_of_worker_pools(compose: dict[str, Any]) -> None:
    from worker.pools import pool_names

    pools: dict[str, str] = {}
    for name, svc in bizos_services(compose).items():
        command = svc.get("command") or []
        if command[:1] == ["worker"]:
            pool = command[command.index("--pool") + 1]
            assert pool not in pools, f"pool {pool} in both {pools.get(pool)} and {name}"
            pools[pool] = name
            assert "replicas" in svc.get("deploy", {}), f"{name}: no deploy.replicas"
            port = command[command.index("--metrics-port") + 1]
            assert f"127.0.0.1:{port}/" in " ".join(svc["healthcheck"]["test"]), name
    assert sorted(pools) == sorted(pool_names())
    assert "replicas" in services(compose)["api"].get("deploy", {})


def test_prometheus_finds_every_platform_process_by_dns(compose: dict[str, Any]) -> None:
    """prometheus/prometheus.yml's DNS service discovery names the compose services (a name
    resolves to every replica) on the ports their processes serve /metrics on."""
    config = yaml.safe_load((DOKPLOY / "prometheus" / "prometheus.yml").read_text())
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs") or []:
            scraped.update((name, int(sd["port"])) for name in sd["names"])
    assert set(scraped) <= set(services(compose)), "a scraped name is no compose service"
    served: dict[str, int] = {}
    for name, svc in bizos_services(compose).items():
        command = svc.get("command") or []
        flag = next((f for f in ("--metrics-port", "--port") if f in command), None)
        if flag:  # long-running processes with a metrics endpoint (not the one-shot init)
            served[name] = int(command[command.index(flag) + 1])
            assert str(served[name]) in [str(p) for p in svc.get("expose") or []], name
    assert {n: scraped.get(n) for n in served} == served


def test_self_hosted_profile_runs_temporal_and_postgresql(compose: dict[str, Any]) -> None:
    svcs = services(compose)
    profiled = {n for n, s in svcs.items() if "self-hosted" in (s.get("profiles") or [])}
    assert {"bizos-postgres", "bizos-temporal", "bizos-temporal-init"} <= profiled
    assert svcs["bizos-temporal"]["image"].startswith(
        ("temporalio/auto-setup:", "temporalio/server:")
    )
    # Services outside the profile may wait for profile services only as optional.
    for name, svc in svcs.items():
        if name in profiled:
            continue
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep in profiled:
                assert cond.get("required") is False, f"{name} requires {dep} (self-hosted only)"
    # The init job creates exactly the search attributes the workflow worker checks for.
    script = " ".join(svcs["bizos-temporal-init"]["command"])
    kinds = {"KEYWORD_LIST": "KeywordList", "KEYWORD": "Keyword"}
    wanted = {f"{k.name}={kinds[k.indexed_value_type.name]}" for k in search_attributes.ALL}
    created = set(re.findall(r"\b(Bizos\w+=\w+)", script))
    assert created == wanted


def interpolated(text: str) -> set[str]:
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def env_example_names() -> set[str]:
    """`KEY=…` lines, and `# KEY=…` for optional ones (left unset, not empty)."""
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))


def test_env_example_lists_every_variable(compose: dict[str, Any]) -> None:
    used = interpolated(COMPOSE.read_text())
    for svc in services(compose).values():  # passed through from the environment when set
        used |= {k for k, v in environment(svc).items() if v is None}
    listed = {n for n in env_example_names() if not n.startswith("COMPOSE_")}  # compose's own
    assert not used - listed, f"missing from .env.example: {sorted(used - listed)}"
    assert not listed - used, f"in .env.example but unused: {sorted(listed - used)}"
    text = ENV_EXAMPLE.read_text()
    # an empty `NAME=` would reach the containers as "" and override the default
    assert not re.findall(r"^([A-Z][A-Z0-9_]+)=\s*$", text, re.M)
    # what compose refuses to run without is there to fill in, not commented out
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):\?", COMPOSE.read_text()))
    active = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M))
    assert not required - active, f"required but commented out: {sorted(required - active)}"


# --- settings the code reads ------------------------------------------------------------------


def project_packages() -> list[Path]:
    """The packages the image installs (pyproject's setuptools include list)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {pattern.rstrip("*").rstrip(".") for pattern in include}
    return sorted(ROOT / n for n in names if (ROOT / n / "__init__.py").is_file())


@functools.cache
def project_sources() -> tuple[tuple[str, ast.Module], ...]:
    """(module name, syntax tree) of every module the image installs, parsed once."""
    sources = []
    for package in project_packages():
        for path in sorted(package.rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            sources.append((module.removesuffix(".__init__"), ast.parse(path.read_text())))
    return tuple(sources)


def string_constants(trees: list[tuple[str, ast.Module]]) -> dict[str, set[str]]:
    """Module-level NAME = "text" assignments, by name, across the project."""
    consts: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            if targets and isinstance(value, ast.Constant) and isinstance(value.value, str):
                for target in targets:
                    if isinstance(target, ast.Name):
                        consts.setdefault(target.id, set()).add(value.value)
    return consts


def name_patterns(node: ast.expr, consts: dict[str, set[str]]) -> list[str]:
    """Regexes for the variable name an expression builds; [] when it cannot be known."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [re.escape(node.value)]
    if isinstance(node, ast.Name | ast.Attribute):
        key = node.id if isinstance(node, ast.Name) else node.attr
        return [re.escape(v) for v in sorted(consts.get(key, ()))]
    if isinstance(node, ast.JoinedStr):
        parts = [
            re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+" for v in node.values
        ]
        pattern = "".join(parts)
        return [pattern] if not pattern.startswith(".+") else []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        rights = name_patterns(node.right, consts) or [".+"]
        return [left + right for left in name_patterns(node.left, consts) for right in rights]
    return []


def is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def environ_reads() -> list[re.Pattern[str]]:
    """Every name the code reads with os.environ.get / os.getenv / os.environ[...] / `in`."""
    trees = list(project_sources())
    consts = string_constants(trees)
    patterns: set[str] = set()
    for _, tree in trees:
        for node in ast.walk(tree):
            arg: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                environ_get = (
                    isinstance(func, ast.Attribute)
                    and func.attr == "get"
                    and is_environ(func.value)
                )
                getenv = (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                    isinstance(func, ast.Name) and func.id == "getenv"
                )
                if environ_get or getenv:
                    arg = node.args[0]
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and is_environ(node.value)
            ):
                arg = node.slice
            elif (
                isinstance(node, ast.Compare)
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.In)
                and is_environ(node.comparators[0])
            ):
                arg = node.left
            if arg is not None:
                patterns.update(name_patterns(arg, consts))
    return [re.compile(p) for p in sorted(patterns)]


def settings_env_names() -> set[str]:
    """The variables every pydantic-settings class of the project reads, as pydantic-settings
    computes them: env_prefix + field name, or the field's alias; nested models with
    env_nested_delimiter."""
    trees = list(project_sources())
    for module, tree in trees:
        defines = any(
            isinstance(n, ast.ImportFrom)
            and n.module == "pydantic_settings"
            and any(a.name == "BaseSettings" for a in n.names)
            for n in ast.walk(tree)
        )
        if defines:
            importlib.import_module(module)
    packages = {p.name for p in project_packages()}
    names: set[str] = set()
    stack: list[type[BaseSettings]] = list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] not in packages:
            continue
        config = cls.model_config
        prefix = str(config.get("env_prefix") or "")
        delimiter = config.get("env_nested_delimiter")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias or field.alias
            if isinstance(alias, str):
                candidates = [alias]
            elif isinstance(alias, AliasChoices):
                candidates = [c for c in alias.choices if isinstance(c, str)]
            else:
                candidates = [prefix + field_name]
            names.update(c.upper() for c in candidates)
            nested = field.annotation
            if delimiter and isinstance(nested, type) and issubclass(nested, BaseModel):
                for sub in nested.model_fields:
                    names.add(f"{prefix}{field_name}{delimiter}{sub}".upper())
    return names


def read_by_temporal_envconfig(name: str) -> bool:
    """Temporal's own loader (temporalio.envconfig, shared with the `temporal` CLI) reads
    `name` when setting it changes the connect config or makes loading fail (a TLS path)."""
    from temporalio.envconfig import ClientConfig

    def load(env: dict[str, str]) -> object:
        try:
            return ClientConfig.load_client_connect_config(disable_file=True, override_env_vars=env)
        except Exception as e:
            return f"error: {e}"

    base = {"TEMPORAL_ADDRESS": "probe.invalid:7233"} if name != "TEMPORAL_ADDRESS" else {}
    return load({**base, name: "true"}) != load(base)


def library_env_names() -> set[str]:
    """OpenTelemetry's (OTEL_*) and botocore's (AWS_*: the S3 blob backend's credentials)
    variables, from the libraries' own constants."""
    import opentelemetry.environment_variables as otel_api
    import opentelemetry.sdk.environment_variables as otel_sdk
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
    from botocore.credentials import EnvProvider

    names = {
        v
        for m in (otel_api, otel_sdk)
        for k, v in vars(m).items()
        if k.startswith("OTEL_") and isinstance(v, str)
    }
    names |= {EnvProvider.ACCESS_KEY, EnvProvider.SECRET_KEY, *EnvProvider.TOKENS}
    for _, env_vars, _, _ in BOTOCORE_DEFAUT_SESSION_VARIABLES.values():
        names.update([env_vars] if isinstance(env_vars, str) else env_vars or [])
    return names


@pytest.fixture(scope="module")
def known_settings() -> tuple[set[str], list[re.Pattern[str]]]:
    names = settings_env_names() | library_env_names()
    # the derivation found the settings classes (not a hand-kept list: a sanity floor)
    assert {"BIZOS_DATABASE_URL", "BIZOS_REDIS_URL", "BIZOS_API_PRODUCTION"} <= names
    return names, environ_reads()


def unread(names: set[str], known: tuple[set[str], list[re.Pattern[str]]]) -> list[str]:
    exact, patterns = known
    return sorted(
        n
        for n in names
        if n not in exact
        and not any(p.fullmatch(n) for p in patterns)
        and not (n.startswith("TEMPORAL_") and read_by_temporal_envconfig(n))
    )


def test_bizos_services_set_only_settings_the_code_reads(
    compose: dict[str, Any], known_settings: tuple[set[str], list[re.Pattern[str]]]
) -> None:
    platform = bizos_services(compose)
    assert {"api", "worker-workflows", "exporter"} <= set(platform)
    problems = {
        name: bad
        for name, svc in platform.items()
        if (bad := unread(set(environment(svc)), known_settings))
    }
    assert not problems, f"variables no code reads (renamed setting?): {problems}"


def test_dockerfile_settings_are_read_by_the_code(
    known_settings: tuple[set[str], list[re.Pattern[str]]],
) -> None:
    env_names = set(re.findall(r"\b(BIZOS_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert env_names, "the image sets no BIZOS_ settings"
    assert not unread(env_names, known_settings)


# --- the images ----------------------------------------------------------------------------


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        globs = {glob, glob.removeprefix("**/")}
        if any(fnmatch(c, g) for c in candidates for g in globs):
            excluded = not negate
    return excluded


def test_dockerfile_installs_the_locked_set_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage: build and runtime"
    assert re.search(r"pip install[^\n]*--require-hashes[^\n]*-r requirements\.lock", text)
    assert re.search(r"pip install[^\n]*--no-deps[^\n]* (-e )?\.( \\)?$", text, re.M)
    final = text[text.rfind("\nFROM ") :]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in final
    assert re.search(r"^ENTRYPOINT \[\"bizos\"\]", final, re.M)

    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = [
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "dag_specs/hello.yaml",
        "deploy/dokploy/healthcheck.py",
    ]
    needed += [f"{p.name}/__init__.py" for p in project_packages()]
    assert not [p for p in needed if dockerignored(p, patterns)]
    kept_out = [
        ".venv/bin/python",
        ".env",
        ".git/HEAD",
        ".bizos/bizos.db",
        "tests/conftest.py",
        "api/__pycache__/app.cpython-311.pyc",
    ]
    assert all(dockerignored(p, patterns) for p in kept_out)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_images_copy_what_exists() -> None:
    """The small images' COPY sources (deploy/dokploy/…) are there to build from."""
    for dockerfile in DOCKERFILES[1:]:
        for source in re.findall(r"^COPY\s+(\S+)\s+\S+$", dockerfile.read_text(), re.M):
            assert (DOKPLOY / source).exists(), f"{dockerfile.name}: COPY {source} is missing"


def test_healthcheck_command_reports_status() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def check(*urls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(HEALTHCHECK), *urls], capture_output=True, text=True, timeout=30
        )

    try:
        assert check(f"{base}/healthz").returncode == 0
        bad = check(f"{base}/healthz", f"{base}/readyz")
        assert bad.returncode == 1 and "HTTP 503" in bad.stderr
    finally:
        server.shutdown()
        server.server_close()
    refused = check(f"{base}/healthz")
    assert refused.returncode == 1 and base in refused.stderr


# --- scripts --------------------------------------------------------------------------------


def test_shellcheck_passes_on_every_deploy_script() -> None:
    scripts = sorted((ROOT / "deploy").rglob("*.sh"))
    assert HARDEN in scripts
    result = subprocess.run(
        ["shellcheck", *map(str, scripts)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


TOUCHED = [
    Path("/etc/fstab"),
    Path("/etc/ssh/sshd_config.d"),
    Path("/etc/fail2ban"),
    Path("/etc/sysctl.d"),
    Path("/etc/apt/apt.conf.d"),
    Path("/swapfile"),
]


def snapshot() -> dict[str, object]:
    state: dict[str, object] = {}
    for path in TOUCHED:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            state[str(f)] = f.read_bytes() if f.is_file() else f.exists()
    return state


def harden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(HARDEN), *args], capture_output=True, text=True, timeout=60)


def test_hardening_dry_run_prints_every_step_changes_nothing_and_repeats() -> None:
    before = snapshot()
    first, second = harden("--dry-run"), harden("--dry-run")
    assert snapshot() == before, "a dry run changed this machine"
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout, "the dry run is not repeatable"
    out = first.stdout
    for expected in (
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",  # keys only
        "ufw default deny incoming",
        "ufw allow 22/tcp",
        "ufw allow 80/tcp",
        "ufw allow 443/tcp",
        "ufw allow 3000/tcp",
        "ufw --force enable",
        "[sshd]",
        "enabled = true",  # fail2ban
        'APT::Periodic::Unattended-Upgrade "1";',
        "vm.swappiness",
        "sysctl",
    ):
        assert expected in out, f"dry run does not mention {expected!r}:\n{out}"
    assert "swap" in out and ("swapon" in out or "swap already active" in out)
    assert "would run" in out or "unchanged" in out


def test_hardening_options() -> None:
    closed = harden("--dry-run", "--close-dokploy-port", "--ssh-port", "2222")
    assert closed.returncode == 0, closed.stderr
    assert "ufw delete allow 3000/tcp" in closed.stdout
    assert "ufw allow 2222/tcp" in closed.stdout and "Port 2222" in closed.stdout
    assert "ufw allow 3000/tcp" not in closed.stdout
    wrong = harden("--dry-run", "--ssh-port", "ssh")
    assert wrong.returncode != 0 and "--ssh-port" in wrong.stderr
    unknown = harden("--bogus")
    assert unknown.returncode != 0 and "--bogus" in unknown.stderr


# Stand-ins for the commands that change a system: each logs its call; apt-get/dpkg and
# fallocate/swapon keep enough state for a second run to see what the first one did.
STUBS = {
    "apt-get": 'log apt-get "$@"; [ "$1" = update ] || for a; do case "$a" in -*|install) ;; '
    '*) echo "$a" >>"$STATE/installed";; esac; done',
    "dpkg": 'grep -qx "$2" "$STATE/installed" 2>/dev/null && echo "Status: install ok installed"',
    "swapon": 'case "$1" in --show*) cat "$STATE/swaps" 2>/dev/null;; '
    '*) log swapon "$@"; echo "$1" >>"$STATE/swaps";; esac',
    "fallocate": 'log fallocate "$@"; for last; do :; done; : >"$last"',
    "id": 'if [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi',
    **{c: f'log {c} "$@"' for c in ("ufw", "systemctl", "sshd", "sysctl", "mkswap")},
}


def scratch_server(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A root directory shaped like a fresh Debian VPS with an SSH key installed, and an
    environment whose PATH runs the stubs instead of the real commands."""
    root, stubs, state = tmp_path / "root", tmp_path / "stubs", tmp_path / "state"
    for d in (
        "etc/ssh/sshd_config.d",
        "etc/fail2ban/jail.d",
        "etc/apt/apt.conf.d",
        "etc/sysctl.d",
        "root/.ssh",
    ):
        (root / d).mkdir(parents=True)
    (root / "etc/ssh/sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\n")
    (root / "etc/fstab").write_text("proc /proc proc defaults 0 0\n")
    (root / "root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 op@laptop\n")
    stubs.mkdir()
    state.mkdir()
    for name, body in STUBS.items():
        script = stubs / name
        script.write_text(f'#!/bin/sh\nlog() {{ echo "$*" >>"$STATE/calls"; }}\n{body}\n')
        script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "HARDEN_ROOT": str(root),
        "STATE": str(state),
    }
    return root, env


def test_hardening_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    """The real mode, against a scratch root with stub commands: the first run configures
    everything, the second finds it all in place and changes nothing."""
    root, env = scratch_server(tmp_path)
    calls = tmp_path / "state" / "calls"

    def run() -> tuple[str, list[str], dict[Path, str]]:
        calls.write_text("")
        result = subprocess.run(
            ["bash", str(HARDEN), "--admin-user", "root"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        files = {p: p.read_text() for p in root.rglob("*") if p.is_file()}
        return result.stdout, calls.read_text().splitlines(), files

    out1, calls1, files1 = run()
    assert "wrote:" in out1 and "appended:" in out1, out1
    assert (
        "PasswordAuthentication no"
        in files1[root / "etc/ssh/sshd_config.d/01-bizos-hardening.conf"]
    )
    assert "[sshd]" in files1[root / "etc/fail2ban/jail.d/60-bizos-sshd.local"]
    assert 'Unattended-Upgrade "1"' in files1[root / "etc/apt/apt.conf.d/20auto-upgrades"]
    assert "vm.swappiness = 10" in files1[root / "etc/sysctl.d/60-bizos-small-vps.conf"]
    assert files1[root / "etc/fstab"].count("/swapfile none swap sw 0 0") == 1
    for expected in (
        "apt-get install",
        "systemctl reload ssh",
        "ufw allow 22/tcp",
        "ufw --force enable",
        "systemctl restart fail2ban",
        f"swapon {root}/swapfile",
        "sysctl --system",
    ):
        assert any(c.startswith(expected) for c in calls1), f"{expected!r} not run: {calls1}"

    out2, calls2, files2 = run()
    assert files2 == files1, "the second run changed files"
    assert "wrote:" not in out2 and "appended:" not in out2, out2
    # only ufw's own idempotent rule commands run again; no restarts, installs or swapon
    assert calls2 and all(c.startswith("ufw ") for c in calls2), calls2
