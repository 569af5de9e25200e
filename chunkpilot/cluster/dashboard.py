"""``/chunkpilot`` and ``/chunkpilot/api/v1/computations`` on the scheduler's own HTTP server.

The routes are added to the tornado application that serves the dask dashboard (no new
port), under the dashboard's prefix. They find the plugin by name on every request, so
they answer 404 once it is removed and serve a re-registered one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any
from urllib.parse import urlsplit

from distributed.http.utils import RequestHandler
from tornado.routing import PathMatches

from chunkpilot.cluster.recording import unpack
from chunkpilot.report.computations import render_page

__all__ = ["API_PATH", "NAME", "PAGE_PATH", "add_routes", "page_url"]

logger = logging.getLogger(__name__)

#: The plugin's name in ``scheduler.plugins``.
NAME = "chunkpilot-cluster-watch"
PAGE_PATH = "chunkpilot"
API_PATH = "chunkpilot/api/v1/computations"
#: Computations drawn on the page when none is picked (``?id=``): pictures cost the browser.
DETAILS = 5
_ROUTED: weakref.WeakSet[Any] = weakref.WeakSet()


def _prefix(app: Any) -> str:
    """The dashboard's URL prefix (``--dashboard-prefix``), read off its own JSON route."""
    for rule in getattr(app.wildcard_router, "rules", ()):
        if isinstance(rule.matcher, PathMatches):
            pattern = rule.matcher.regex.pattern.rstrip("$")
            if pattern.endswith("json/identity.json"):
                return pattern.removesuffix("json/identity.json")
    return "/"


def add_routes(scheduler: Any) -> str | None:
    """Serve the page and the API from ``scheduler``'s HTTP server, and the API's document
    from its ``chunkpilot_computations`` handler; return the page's path."""

    def payload(**kwargs: Any) -> dict[str, Any] | None:
        plugin = scheduler.plugins.get(NAME)
        return plugin.payload() if plugin is not None else None

    scheduler.handlers["chunkpilot_computations"] = payload
    app = getattr(scheduler, "http_application", None)
    if app is None:
        logger.info("chunkpilot: the scheduler has no HTTP server; no /chunkpilot page")
        return None
    prefix = _prefix(app)
    if app not in _ROUTED:
        kwargs = {"dask_server": scheduler, "extra": {"prefix": prefix}}
        app.add_handlers(r".*$", [(prefix + PAGE_PATH, PageHandler, kwargs),
                                  (prefix + PAGE_PATH + "/", PageHandler, kwargs),
                                  (prefix + API_PATH, ApiHandler, kwargs)])
        _ROUTED.add(app)
    return prefix + PAGE_PATH


def page_url(client: Any) -> str | None:
    """The page's URL for a client: its dashboard's address, the path the watch serves on
    (under ``--dashboard-prefix``, if any); ``None`` without a dashboard or a watch."""
    try:
        link = urlsplit(client.dashboard_link)
        payload = client.sync(client.scheduler.chunkpilot_computations)
    except Exception:  # no dashboard, or an old scheduler without our handler
        return None
    if not link.netloc or not payload or not payload.get("page_path"):
        return None
    return f"{link.scheme}://{link.netloc}{payload['page_path']}"


class _Handler(RequestHandler):
    def _plugin(self) -> Any:
        plugin = self.server.plugins.get(NAME)
        if plugin is None:
            self.set_status(404)
            self.write({"error": "chunkpilot's ClusterWatch is not running on this scheduler. "
                                 "Start it with `dask scheduler --preload chunkpilot.plugin` "
                                 "or chunkpilot.watch(client, always=True)."})
        return plugin


class ApiHandler(_Handler):
    """Recent computations and their verdicts as JSON, newest first."""

    def get(self) -> None:
        if plugin := self._plugin():
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(plugin.payload()))


class PageHandler(_Handler):
    """The table of recent computations, then verdicts and pictures (rendered off the loop)."""

    async def get(self) -> None:
        plugin = self._plugin()
        if plugin is None:
            return
        results = list(plugin.results)[::-1]
        picked = self.get_argument("id", None)
        details = [r for r in results if r[0].id == picked] if picked else results[:DETAILS]
        status = (f"Watching since the plugin started; keeping the last "
                  f"{plugin.results.maxlen} computations." if plugin.enabled else
                  f"The watch switched itself off after an error ({plugin.error}).")
        html = await asyncio.get_running_loop().run_in_executor(
            None, lambda: render_page([s for s, _ in results],
                                      [(s, unpack(blob)) for s, blob in details],
                                      status=status, api_path=self.extra["prefix"] + API_PATH))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(html)
