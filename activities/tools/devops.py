"""DevOps tools: `compose_generator` (docker compose YAML) and `terraform_generator`
(Terraform HCL). Both validate what they generate by parsing it back (PyYAML, python-hcl2)
and checking references, and refuse to hand out a file that fails."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolError, ToolInput, ToolOutput, tool
from activities.tools.sampling import rng


class ComposeValidationError(ToolError):
    """The compose file has broken references, port clashes or invalid names (all listed)."""


class TerraformValidationError(ToolError):
    """The Terraform does not parse or references undeclared variables/resources (all listed)."""


# --------------------------------------------------------------------------- compose_generator


class ComposeService(BaseModel):
    name: str
    image: str
    ports: list[str] = Field(default_factory=list, description="'host:container' or 'container'")
    environment: dict[str, str] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(
        default_factory=list, description="'named_volume:/path' or './dir:/path'"
    )
    command: str | list[str] | None = None
    healthcheck: list[str] | None = Field(
        default=None, description="test command, e.g. ['CMD', 'pg_isready']"
    )
    restart: str = "unless-stopped"


_PG = ComposeService(
    name="postgres",
    image="postgres:16.4",
    environment={
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
        "POSTGRES_DB": "app",
    },
    volumes=["pgdata:/var/lib/postgresql/data"],
    healthcheck=["CMD-SHELL", "pg_isready -U app"],
)
_REDIS = ComposeService(
    name="redis",
    image="redis:7.4-alpine",
    volumes=["redisdata:/data"],
    healthcheck=["CMD", "redis-cli", "ping"],
)
PRESETS: dict[str, list[ComposeService]] = {
    "web_postgres_redis": [
        ComposeService(
            name="web",
            image="ghcr.io/example/web:1.0.0",
            ports=["8000:8000"],
            depends_on=["postgres", "redis"],
            environment={
                "DATABASE_URL": "postgresql://app:${POSTGRES_PASSWORD}@postgres:5432/app",
                "REDIS_URL": "redis://redis:6379/0",
            },
        ),
        _PG,
        _REDIS,
    ],
    "temporal_dev": [
        ComposeService(
            name="temporal",
            image="temporalio/auto-setup:1.25.2",
            ports=["7233:7233"],
            depends_on=["postgres"],
            environment={
                "DB": "postgres12",
                "DB_PORT": "5432",
                "POSTGRES_USER": "app",
                "POSTGRES_PWD": "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
                "POSTGRES_SEEDS": "postgres",
            },
        ),
        ComposeService(
            name="temporal-ui",
            image="temporalio/ui:2.31.2",
            ports=["8233:8080"],
            depends_on=["temporal"],
            environment={"TEMPORAL_ADDRESS": "temporal:7233"},
        ),
        _PG,
    ],
    "monitoring": [
        ComposeService(
            name="prometheus",
            image="prom/prometheus:v2.54.1",
            ports=["9090:9090"],
            volumes=["./prometheus.yml:/etc/prometheus/prometheus.yml:ro", "promdata:/prometheus"],
        ),
        ComposeService(
            name="grafana",
            image="grafana/grafana:11.2.0",
            ports=["3000:3000"],
            depends_on=["prometheus"],
            environment={
                "GF_SECURITY_ADMIN_PASSWORD": (
                    "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"
                )
            },
            volumes=["grafanadata:/var/lib/grafana"],
        ),
    ],
    "wordpress_mysql": [
        ComposeService(
            name="wordpress",
            image="wordpress:6.6-apache",
            ports=["8080:80"],
            depends_on=["mysql"],
            environment={
                "WORDPRESS_DB_HOST": "mysql",
                "WORDPRESS_DB_USER": "wp",
                "WORDPRESS_DB_PASSWORD": "${MYSQL_PASSWORD:?set MYSQL_PASSWORD}",
                "WORDPRESS_DB_NAME": "wp",
            },
            volumes=["wpdata:/var/www/html"],
        ),
        ComposeService(
            name="mysql",
            image="mysql:8.4",
            environment={
                "MYSQL_DATABASE": "wp",
                "MYSQL_USER": "wp",
                "MYSQL_PASSWORD": "${MYSQL_PASSWORD:?set MYSQL_PASSWORD}",
                "MYSQL_RANDOM_ROOT_PASSWORD": "1",
            },
            volumes=["mysqldata:/var/lib/mysql"],
            healthcheck=["CMD", "mysqladmin", "ping", "-h", "localhost"],
        ),
    ],
}
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_SECRETISH = re.compile(r"(password|secret|token|api_?key)", re.I)


def compose_document(services: list[ComposeService]) -> dict[str, Any]:
    doc: dict[str, Any] = {"services": {}}
    named: list[str] = []
    healthy = {s.name for s in services if s.healthcheck}
    for s in services:
        svc: dict[str, Any] = {"image": s.image, "restart": s.restart}
        if s.command:
            svc["command"] = s.command
        if s.ports:
            svc["ports"] = list(s.ports)
        if s.environment:
            svc["environment"] = dict(s.environment)
        if s.volumes:
            svc["volumes"] = list(s.volumes)
            named += [
                v.split(":", 1)[0]
                for v in s.volumes
                if ":" in v and not v.startswith((".", "/", "~"))
            ]
        if s.depends_on:
            # wait for health where the dependency defines a check, so start order is real
            svc["depends_on"] = {
                d: {"condition": "service_healthy" if d in healthy else "service_started"}
                for d in s.depends_on
            }
        if s.healthcheck:
            svc["healthcheck"] = {
                "test": s.healthcheck,
                "interval": "10s",
                "timeout": "5s",
                "retries": 5,
            }
        doc["services"][s.name] = svc
    if named:
        doc["volumes"] = {v: {} for v in dict.fromkeys(named)}
    return doc


def validate_compose(text: str) -> tuple[dict[str, Any], list[str], list[str]]:
    """(parsed document, problems, warnings). Problems make the file unusable."""
    import yaml

    problems: list[str] = []
    warnings: list[str] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return {}, [f"YAML does not parse: {e}"], []
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("services"), dict)
        or not doc["services"]
    ):
        return {}, ["no services defined"], []
    services = doc["services"]
    declared = set((doc.get("volumes") or {}).keys())
    host_ports: dict[str, str] = {}
    for name, svc in services.items():
        if not _NAME.match(str(name)):
            problems.append(f"service name {name!r} is invalid")
        if not isinstance(svc, dict) or (not svc.get("image") and not svc.get("build")):
            problems.append(f"{name}: needs an image or build")
            continue
        image = str(svc.get("image", ""))
        if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            warnings.append(f"{name}: pin the image tag ({image})")
        deps = svc.get("depends_on") or {}
        for d in deps if isinstance(deps, list | dict) else []:
            if d not in services:
                problems.append(f"{name}: depends_on unknown service {d!r}")
        for p in svc.get("ports") or []:
            parts = str(p).split(":")
            if len(parts) >= 2:
                host = parts[-2]
                if not host.isdigit() or not 0 < int(host) < 65536:
                    problems.append(f"{name}: bad host port in {p!r}")
                elif host in host_ports:
                    problems.append(f"{name}: host port {host} already used by {host_ports[host]}")
                else:
                    host_ports[host] = str(name)
        for v in svc.get("volumes") or []:
            src = str(v).split(":", 1)[0]
            if ":" in str(v) and not src.startswith((".", "/", "~")) and src not in declared:
                problems.append(f"{name}: named volume {src!r} is not declared under volumes")
        for k, val in (svc.get("environment") or {}).items():
            if _SECRETISH.search(str(k)) and val and "${" not in str(val):
                warnings.append(
                    f"{name}: {k} is hard-coded; pass it as ${{{k}}} from the environment"
                )
    # cycles in depends_on make compose refuse to start
    graph = {
        n: list((s.get("depends_on") or {}) if isinstance(s, dict) else [])
        for n, s in services.items()
    }
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for d in graph.get(n, []):
            if state.get(d) == 1:
                problems.append(f"dependency cycle: {' -> '.join([*path, n, d])}")
            elif d in graph and not state.get(d):
                visit(d, [*path, n])
        state[n] = 2

    for n in graph:
        if not state.get(n):
            visit(n, [])
    return doc, problems, warnings


class ComposeGeneratorInput(ToolInput):
    services: list[ComposeService] = Field(default_factory=list)
    stack: str = Field(default="", description=f"a preset: {', '.join(PRESETS)}")
    project: str = "app"


class ComposeGeneratorOutput(ToolOutput):
    compose_path: str = ""
    compose_yaml: str = ""
    services: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


@tool(
    "compose_generator",
    "docker compose YAML from services or a preset stack, validated by parsing it back",
)
def compose_generator(inp: ComposeGeneratorInput) -> ComposeGeneratorOutput:
    import yaml

    if inp.services:
        services, source = list(inp.services), "given services"
    else:
        stack = inp.stack or rng(inp, "compose").choice(sorted(PRESETS))
        if stack not in PRESETS:
            raise InvalidToolInput(f"unknown stack {stack!r}; presets: {', '.join(PRESETS)}")
        services, source = PRESETS[stack], f"preset {stack}"
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ComposeValidationError(
            f"duplicate service names: {sorted({n for n in names if names.count(n) > 1})}"
        )
    text = (
        f"# docker compose file for {inp.project} ({source}); generated "
        "and validated by bizos compose_generator\n"
    )
    text += f"name: {inp.project}\n" + yaml.safe_dump(
        compose_document(services), sort_keys=False, default_flow_style=False
    )
    _doc, problems, warnings = validate_compose(text)
    if problems:
        raise ComposeValidationError("; ".join(problems))
    writer = ArtifactWriter(inp, "compose_generator")
    path = writer.text("compose", "yaml", text)
    env_vars = sorted(set(re.findall(r"\$\{(\w+)", text)))
    recs = [f"docker compose -f {path} config   # re-validate with the real CLI"]
    if env_vars:
        recs.append(
            f"Set {', '.join(env_vars)} in the environment or an .env file (never commit values)."
        )
    recs += warnings[:5]
    return ComposeGeneratorOutput(
        headline=(
            f"Compose file for {inp.project}: {len(services)} services ({', '.join(names)}) "
            f"from {source}; parsed back with no problems, {len(warnings)} "
            "warnings."
        ),
        metrics={
            "services": float(len(services)),
            "warnings": float(len(warnings)),
            "published_ports": float(sum(len(s.ports) for s in services)),
        },
        recommendations=recs,
        artifacts=writer.written,
        compose_path=path,
        compose_yaml=text,
        services=names,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- terraform_generator

_AWS_PROVIDER = """terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
"""
_GCP_PROVIDER = """terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.gcp_project
  region  = var.region
}
"""
_AWS_NET = """resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  tags = {
    Name = "${var.project}-${var.environment}"
  }
}

resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.main.id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  availability_zone       = data.aws_availability_zones.available.names[count.index]
  map_public_ip_on_launch = true
}

resource "aws_subnet" "private" {
  count             = 2
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, count.index + 10)
  availability_zone = data.aws_availability_zones.available.names[count.index]
}

data "aws_availability_zones" "available" {
  state = "available"
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}
"""
_AWS_WEB = """resource "aws_security_group" "web" {
  name   = "${var.project}-${var.environment}-web"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"]
  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]
  }
}

resource "aws_instance" "web" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.web.id]
  metadata_options {
    http_tokens = "required"
  }
  root_block_device {
    encrypted = true
  }
}
"""
_AWS_DB = """resource "aws_db_subnet_group" "main" {
  name       = "${var.project}-${var.environment}"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "db" {
  name   = "${var.project}-${var.environment}-db"
  vpc_id = aws_vpc.main.id
  ingress {
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_db_instance" "main" {
  identifier             = "${var.project}-${var.environment}"
  engine                 = "postgres"
  engine_version         = "16"
  instance_class         = var.db_instance_class
  allocated_storage      = 20
  db_name                = "app"
  username               = "app"
  password               = var.db_password
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  storage_encrypted      = true
  skip_final_snapshot    = false
  final_snapshot_identifier = "${var.project}-${var.environment}-final"
}
"""
_AWS_BUCKET = """resource "aws_s3_bucket" "site" {
  bucket = "${var.project}-${var.environment}-site"
}

resource "aws_s3_bucket_public_access_block" "site" {
  bucket                  = aws_s3_bucket.site.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "site" {
  bucket = aws_s3_bucket.site.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "site" {
  bucket = aws_s3_bucket.site.id
  versioning_configuration {
    status = "Enabled"
  }
}
"""
_GCP_BUCKET = """resource "google_storage_bucket" "site" {
  name                        = "${var.project}-${var.environment}-site"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
}
"""
_GCP_NET = """resource "google_compute_network" "main" {
  name                    = "${var.project}-${var.environment}"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "main" {
  name          = "${var.project}-${var.environment}"
  ip_cidr_range = var.vpc_cidr
  region        = var.region
  network       = google_compute_network.main.id
}
"""
_GCP_WEB = """resource "google_compute_firewall" "https" {
  name    = "${var.project}-${var.environment}-https"
  network = google_compute_network.main.name
  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
  source_ranges = ["0.0.0.0/0"]
  target_tags   = ["web"]
}

resource "google_compute_instance" "web" {
  name         = "${var.project}-${var.environment}-web"
  machine_type = var.instance_type
  zone         = "${var.region}-a"
  tags         = ["web"]
  boot_disk {
    initialize_params {
      image = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
    }
  }
  network_interface {
    subnetwork = google_compute_subnetwork.main.id
  }
  shielded_instance_config {
    enable_secure_boot = true
  }
}
"""

# provider -> blueprint -> (resource blocks, needs the network blueprint, extra variables)
BLUEPRINTS: dict[str, dict[str, tuple[str, bool, tuple[str, ...]]]] = {
    "aws": {
        "network": (_AWS_NET, False, ("vpc_cidr",)),
        "web_service": (_AWS_WEB, True, ("instance_type",)),
        "database": (_AWS_DB, True, ("db_instance_class", "db_password")),
        "static_site_bucket": (_AWS_BUCKET, False, ()),
    },
    "gcp": {
        "network": (_GCP_NET, False, ("vpc_cidr",)),
        "web_service": (_GCP_WEB, True, ("instance_type",)),
        "static_site_bucket": (_GCP_BUCKET, False, ()),
    },
}
_VARIABLES: dict[
    str, tuple[str, str, str | None, bool]
] = {  # name -> (type, description, default, sensitive)
    "project": ("string", "Project name, used in resource names", None, False),
    "environment": ("string", "Environment (dev, staging, prod)", None, False),
    "region": ("string", "Cloud region", None, False),
    "gcp_project": ("string", "GCP project id", None, False),
    "vpc_cidr": ("string", "CIDR block of the network", '"10.0.0.0/16"', False),
    "instance_type": ("string", "Machine size", None, False),
    "db_instance_class": ("string", "Database instance class", '"db.t4g.micro"', False),
    "db_password": (
        "string",
        "Database master password (pass via TF_VAR_db_password, never commit)",
        None,
        True,
    ),
}


def _variables_tf(names: list[str], defaults: dict[str, str]) -> str:
    blocks = []
    for n in names:
        typ, desc, default, sensitive = _VARIABLES[n]
        value = f'"{defaults[n]}"' if n in defaults else default
        lines = [f'variable "{n}" {{', f"  type        = {typ}", f'  description = "{desc}"']
        if value is not None:
            lines.append(f"  default     = {value}")
        if sensitive:
            lines.append("  sensitive   = true")
        blocks.append("\n".join(lines) + "\n}\n")
    return "\n".join(blocks)


def validate_terraform(files: dict[str, str]) -> list[str]:
    """Parse every file with python-hcl2 and check that each var.X is declared and each
    resource/data reference points at a declared block."""
    import hcl2

    problems: list[str] = []
    declared_vars: set[str] = set()
    declared: set[str] = set()
    for name, text in files.items():
        try:
            doc = hcl2.loads(text)
        except Exception as e:  # hcl2 raises lark errors of several types
            problems.append(f"{name} does not parse: {str(e).splitlines()[0][:200]}")
            continue
        for block in doc.get("variable", []):
            declared_vars.update(k.strip('"') for k in block)
        for block in doc.get("resource", []):
            for rtype, bodies in block.items():
                for rname in bodies:
                    declared.add(f"{rtype.strip(chr(34))}.{rname.strip(chr(34))}")
        for block in doc.get("data", []):
            for rtype, bodies in block.items():
                for rname in bodies:
                    declared.add(f"data.{rtype.strip(chr(34))}.{rname.strip(chr(34))}")
    if problems:
        return problems
    text_all = "\n".join(files.values())
    for v in sorted(set(re.findall(r"\bvar\.([A-Za-z_]\w*)", text_all))):
        if v not in declared_vars:
            problems.append(f"var.{v} is used but not declared")
    for ref in sorted(
        set(
            re.findall(
                r"(?<![\w.\"])((?:data\.)?(?:aws|google)_[a-z0-9_]+\.[a-z_][\w-]*)", text_all
            )
        )
    ):
        if ref not in declared:
            problems.append(f"{ref} is referenced but not declared")
    return problems


class TerraformGeneratorInput(ToolInput):
    provider: str = Field(default="aws", description="aws | gcp")
    blueprints: list[str] = Field(
        default_factory=list,
        description=(
            "aws: network, web_service, database, static_site_bucket; gcp: "
            "network, web_service, static_site_bucket"
        ),
    )
    project: str = "bizos"
    environment: str = "dev"
    region: str = ""
    instance_type: str = ""


class TerraformGeneratorOutput(ToolOutput):
    files: dict[str, str] = Field(default_factory=dict, description="file name -> path")
    resources: list[str] = Field(default_factory=list)
    variables: list[str] = Field(default_factory=list)


@tool(
    "terraform_generator",
    (
        "Terraform (AWS or GCP) from blueprints, validated by parsing "
        "with python-hcl2 and checking references"
    ),
)
def terraform_generator(inp: TerraformGeneratorInput) -> TerraformGeneratorOutput:
    import hcl2

    if inp.provider not in BLUEPRINTS:
        raise InvalidToolInput(f"provider must be one of {', '.join(BLUEPRINTS)}")
    available = BLUEPRINTS[inp.provider]
    chosen = list(inp.blueprints)
    if not chosen:
        rnd = rng(inp, "terraform")
        chosen = rnd.sample(sorted(available), k=rnd.randint(1, len(available)))
    unknown = [b for b in chosen if b not in available]
    if unknown:
        raise InvalidToolInput(
            f"unknown {inp.provider} blueprint(s) {', '.join(unknown)}; available: "
            f"{', '.join(available)}"
        )
    if not re.match(r"^[a-z][a-z0-9-]{1,30}$", inp.project) or not re.match(
        r"^[a-z][a-z0-9-]{0,15}$", inp.environment
    ):
        raise InvalidToolInput(
            "project and environment must be lower-case letters, digits and "
            "hyphens (they name cloud resources)"
        )
    if any(available[b][1] for b in chosen) and "network" not in chosen:
        chosen.insert(0, "network")  # web and database blueprints live in the network
    chosen = [b for b in available if b in chosen]  # stable file order
    region = inp.region or ("us-east-1" if inp.provider == "aws" else "us-central1")
    itype = inp.instance_type or ("t3.small" if inp.provider == "aws" else "e2-small")
    var_names = ["project", "environment", "region"] + (
        ["gcp_project"] if inp.provider == "gcp" else []
    )
    for b in chosen:
        var_names += [v for v in available[b][2] if v not in var_names]
    defaults = {
        "project": inp.project,
        "environment": inp.environment,
        "region": region,
        "instance_type": itype,
    }
    main = (
        (_AWS_PROVIDER if inp.provider == "aws" else _GCP_PROVIDER)
        + "\n"
        + "\n".join(available[b][0] for b in chosen)
    )
    outputs = []
    if "network" in chosen:
        outputs.append(
            (
                "network_id",
                "aws_vpc.main.id" if inp.provider == "aws" else "google_compute_network.main.id",
            )
        )
    if "web_service" in chosen:
        outputs.append(
            (
                "web_instance_id",
                "aws_instance.web.id"
                if inp.provider == "aws"
                else "google_compute_instance.web.id",
            )
        )
    if "database" in chosen:
        outputs.append(("database_endpoint", "aws_db_instance.main.endpoint"))
    if "static_site_bucket" in chosen:
        outputs.append(
            (
                "bucket_name",
                "aws_s3_bucket.site.bucket"
                if inp.provider == "aws"
                else "google_storage_bucket.site.name",
            )
        )
    files_text = {
        "main.tf": main,
        "variables.tf": _variables_tf(var_names, defaults),
        "outputs.tf": "\n".join(f'output "{n}" {{\n  value = {v}\n}}\n' for n, v in outputs),
    }
    problems = validate_terraform(files_text)
    if problems:
        raise TerraformValidationError("; ".join(problems))
    resources = []
    for block in hcl2.loads(main).get("resource", []):
        for rtype, bodies in block.items():
            resources += [f"{rtype}.{n}" for n in bodies]
    writer = ArtifactWriter(inp, "terraform_generator")
    tf_dir = writer.dir / f"terraform-{inp.provider}-{writer.tag}"
    tf_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fname, text in files_text.items():
        (tf_dir / fname).write_text(text, encoding="utf-8")
        paths[fname] = str(tf_dir / fname)
        writer.written.append(str(tf_dir / fname))
    recs = [f"cd {tf_dir} && terraform init && terraform validate && terraform plan"]
    if "database" in chosen:
        recs.append(
            "Set TF_VAR_db_password from the secrets store; it is marked "
            "sensitive and has no default."
        )
    if inp.provider == "gcp":
        recs.append("Set TF_VAR_gcp_project to the target project id.")
    return TerraformGeneratorOutput(
        headline=(
            f"Terraform for {inp.provider.upper()} ({', '.join(chosen)}): "
            f"{len(resources)} resources, {len(var_names)} variables; parsed "
            "with hcl2 and all references resolve."
        ),
        metrics={
            "resources": float(len(resources)),
            "variables": float(len(var_names)),
            "files": float(len(paths)),
            "blueprints": float(len(chosen)),
        },
        recommendations=recs,
        artifacts=writer.written,
        files=paths,
        resources=resources,
        variables=var_names,
    )
