"""Worker Deployment versioning: which build of the code a worker is, so Temporal can roll
runs from one build to the next (docs/encryption_and_cloud.md, "Rolling updates").

With BIZOS_DEPLOYMENT_NAME and BIZOS_BUILD_ID set, every pool's worker polls as that
deployment version, and its workflows are AUTO_UPGRADE: at their next workflow task they move
to whatever version the operator made current. Runs parked for days on an approval therefore
never keep an old build alive; what keeps their replay correct on the new build is
`workflow.patched` plus the recorded-history replay tests (docs/versioning.md). Unset: the
workers are unversioned, as before.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

NAME_VAR = "BIZOS_DEPLOYMENT_NAME"
BUILD_VAR = "BIZOS_BUILD_ID"


class DeploymentConfigError(ValueError):
    pass


class DeploymentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZOS_", env_file=".env", extra="ignore")

    deployment_name: str = ""
    build_id: str = ""


def deployment_version(
    settings: DeploymentSettings | None = None,
) -> WorkerDeploymentVersion | None:
    settings = settings or DeploymentSettings()
    name, build = settings.deployment_name.strip(), settings.build_id.strip()
    if not name and not build:
        return None
    if not name or not build:
        # Half a version would silently run unversioned next to versioned peers.
        missing = NAME_VAR if not name else BUILD_VAR
        raise DeploymentConfigError(f"{NAME_VAR} and {BUILD_VAR} go together; {missing} is not set")
    if "." in name:
        # The server's canonical version string is `<deployment>.<build id>`.
        raise DeploymentConfigError(f"{NAME_VAR} {name!r} must not contain '.'")
    return WorkerDeploymentVersion(deployment_name=name, build_id=build)


def deployment_config(settings: DeploymentSettings | None = None) -> WorkerDeploymentConfig | None:
    """The worker's deployment options, or None (unversioned) when not configured."""
    version = deployment_version(settings)
    if version is None:
        return None
    return WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )
