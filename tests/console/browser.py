"""The console in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by
scripts/setup) driven by Playwright from PyPI — no browser is ever downloaded — against the
package's console app served over real HTTP by uvicorn on 127.0.0.1.

Screenshots go to tests/console/artifacts/ (ignored by git, kept by CI as artefacts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
# A closed network: no proxy lookups, no component updates, no phoning home; root needs
# --no-sandbox; containers have a small /dev/shm.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-proxy-server",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--metrics-recording-only",
    "--disable-features=Translate,MediaRouter,OptimizationHints,CertificateTransparencyComponentUpdater",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    """`app` over HTTP on a free port of 127.0.0.1, on this event loop (the app's store and
    Temporal client live here); yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Tab:
    """One browser tab signed in (or not) to the console; records script dialogs and page
    errors, which no console page may ever produce."""

    def __init__(self, context: BrowserContext, page: Page, base: str, name: str) -> None:
        self.context, self.page, self.base, self.name = context, page, base, name
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.csp_violations: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "console",
            lambda m: (
                self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm":
            await dialog.accept()  # our own `data-confirm` questions
        else:
            await dialog.dismiss()

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def sign_in(self, key: str) -> None:
        await self.goto("/admin/login")
        await self.page.fill("#key", key)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_url(lambda url: "/admin/login" not in url)

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def overflow_px(self) -> int:
        """How far the page is wider than the viewport (0: no horizontal scrolling)."""
        return int(
            await self.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
        )


@asynccontextmanager
async def tab(browser: Browser, base: str, name: str, device: dict[str, Any]) -> AsyncIterator[Tab]:
    context = await browser.new_context(**device)
    context.set_default_timeout(30_000)
    try:
        page = await context.new_page()
        yield Tab(context, page, base, name)
    finally:
        await context.close()
