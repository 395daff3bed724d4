"""The agents' tools: real, local, deterministic work on pydantic models.

Importing this package registers every tool in `activities.tools.registry.TOOLS`. Modules
are grouped by domain; heavy libraries (pandas, matplotlib, bs4, hcl2) are imported inside
the tool functions, so importing the package stays fast. See docs/tools.md.
"""

from activities.tools import (  # noqa: F401 - imported to register their tools
    analytics,
    campaigns,
    charts,
    code,
    community,
    connectors,
    content,
    creative,
    devops,
    docs,
    ecommerce,
    finance,
    gaming,
    orchestration,
    pricing,
    research,
    risk,
    sales,
    schema_org,
    seo,
    strategy,
    trading,
)
from activities.tools.registry import TOOLS, ToolError, ToolInput, ToolOutput, ToolSpec, tool

__all__ = ["TOOLS", "ToolError", "ToolInput", "ToolOutput", "ToolSpec", "tool"]
