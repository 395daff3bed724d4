"""Log records tagged with the run and step they belong to.

An activity interceptor puts the workflow id, run id and step id of the running activity
into a context variable; `RunContextFilter` copies them onto every log record emitted in
that context (asyncio tasks and `asyncio.to_thread` inherit it), so a worker's log lines can
be grepped by run or step whatever library emitted them.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

log = logging.getLogger("bizos.steps")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "bizos_log_context", default=None
)


def current() -> dict[str, str]:
    return _context.get() or {}


class RunContextFilter(logging.Filter):
    """Adds `workflow_id`, `run_id` and `step_id` attributes (empty outside a run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        if not ctx:
            try:
                # workflow.logger records carry the workflow info in `temporal_workflow`
                info: Any = getattr(record, "temporal_workflow", None) or {}
                ctx = {
                    "workflow_id": info.get("workflow_id", ""),
                    "run_id": info.get("run_id", ""),
                }
            except AttributeError:
                ctx = {}
        record.workflow_id = ctx.get("workflow_id", "")
        record.run_id = ctx.get("run_id", "")
        record.step_id = ctx.get("step_id", "")
        return True


LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [wf=%(workflow_id)s run=%(run_id)s step=%(step_id)s] "
    "%(message)s"
)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RunContextFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        step = ""
        if input.args:
            step_id = getattr(input.args[0], "step_id", "")
            index = getattr(input.args[0], "item_index", None)
            step = f"{step_id}#{index}" if index is not None else str(step_id)
        token = _context.set(
            {
                "workflow_id": info.workflow_id or "",
                "run_id": info.workflow_run_id or "",
                "step_id": step,
            }
        )
        started = time.perf_counter()
        what = (
            f"{getattr(input.args[0], 'agent', '?')}/{getattr(input.args[0], 'mode', '?')}"
            if input.args
            else info.activity_type
        )
        log.info("step started: %s (attempt %d)", what, info.attempt)
        try:
            result = await self.next.execute_activity(input)
        except BaseException as e:
            log.warning(
                "step attempt %d failed after %.0f ms: %s",
                info.attempt,
                (time.perf_counter() - started) * 1000,
                e,
            )
            raise
        else:
            log.info("step finished in %.0f ms", (time.perf_counter() - started) * 1000)
            return result
        finally:
            _context.reset(token)


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        # workflow.logger already attaches workflow info to its records; nothing to add.
        _ = workflow
        return None
