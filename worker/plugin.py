"""The platform's Temporal wiring, packaged once: every client, worker and replayer uses it.

* data converter: pydantic JSON, with a slot for a payload codec (encryption/compression)
  so production can add one without touching workflow or activity code;
* workflow runner: the sandbox, with the platform's own pure modules passed through so the
  compiled specs (and compiled CEL) are built once per worker, not re-imported per run;
* interceptors: log records tagged with run and step ids; OpenTelemetry tracing when the
  process set it up (`worker.tracing`).
"""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.plugin import SimplePlugin
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Modules imported by workflow code that are deterministic, side-effect free at import and
# expensive to re-import: passing them through keeps one copy per worker process.
PASSTHROUGH_MODULES = (
    "workflows",
    "activities.contract",
    "activities.catalog",
    "celpy",
    "lark",
    "yaml",
    "jmespath",
    "tomli",
    "babel",
    "dateutil",
    "pendulum",
    "google.re2",
)


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    if codec is None:
        return pydantic_data_converter
    from worker.codec import SealedFailureConverter

    # with a codec, failure messages and stack traces are sealed too: an error quoting its
    # input would otherwise put that input in the history as plaintext
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=SealedFailureConverter,
    )


def workflow_runner(extra_passthrough: tuple[str, ...] = ()) -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *PASSTHROUGH_MODULES, *extra_passthrough
        )
    )


class BizosPlugin(SimplePlugin):
    """Temporal wiring for BizOS. `codec` encrypts/compresses payloads when set."""

    def __init__(
        self, codec: PayloadCodec | None = None, extra_passthrough: tuple[str, ...] = ()
    ) -> None:
        from worker.log_context import LogContextInterceptor
        from worker.tracing import temporal_interceptors

        super().__init__(
            "bizos",
            data_converter=data_converter(codec),
            workflow_runner=workflow_runner(extra_passthrough),
            # tracing (when on) outermost, so a step's log lines fall inside its span
            interceptors=[*temporal_interceptors(), LogContextInterceptor()],
        )
