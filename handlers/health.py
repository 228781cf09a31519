"""Process health, database readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from pymongo.errors import PyMongoError

from handlers.base import PUBLIC, ApiHandler, api
from server import metrics
from services.errors import Forbidden
from services.models import OutModel


class HealthOut(OutModel):
    status: str


class HealthHandler(ApiHandler):
    @api(auth=PUBLIC, response=HealthOut, summary="进程存活检查 (process up)", tags=("ops",))
    async def get(self):
        """The process is up and serving."""
        return {"status": "ok"}


class ReadyHandler(ApiHandler):
    @api(auth=PUBLIC, response=HealthOut, summary="数据库可用检查 (database answers)",
         tags=("ops",))
    async def get(self):
        """200 when the database answers a ping within 2 s, else 503 database_unavailable."""
        try:
            await asyncio.wait_for(self.services.client.admin.command("ping"), timeout=2.0)
        except (PyMongoError, TimeoutError):
            self.send_json({"error": {"code": "database_unavailable",
                                      "message": "数据库暂时不可用"}}, 503)
            return None
        return {"status": "ready"}


class MetricsHandler(ApiHandler):
    def _may_read(self) -> bool:
        """An allowed network (the scraper's) or the metrics bearer token (issue 22 finding i)."""
        token = self.settings.get("metrics_token", "")
        offered = self.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token and offered and hmac.compare_digest(token.encode(), offered.encode()):
            return True
        try:
            address = ipaddress.ip_address(self.client_ip)
        except ValueError:
            return False
        return any(address in network for network in self.settings.get("metrics_networks", ()))

    async def get(self):
        """Prometheus text exposition. The outbox gauge is read from the database now (one
        count per status); without a database the other metrics are still served."""
        if not self._may_read():
            raise Forbidden("metrics_forbidden", "无权读取运行指标")
        try:
            metrics.set_outbox(await asyncio.wait_for(self.services.notify.status_counts(), 2.0))
        except (PyMongoError, TimeoutError):
            pass
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(metrics.render())


routes = [
    (r"/healthz", HealthHandler),
    (r"/readyz", ReadyHandler),
    (r"/metrics", MetricsHandler),
]
