"""The notification outbox and its dispatcher.

Collections (owned here):
    notify_messages   {_id, event, template, params{enc JSON}, dedup_key (unique), urgent,
                       status queued|failed|sent|dead, phone{enc}, phone_index, phone_masked,
                       openid (mini program), official_openid (公众号), account_id, created_at,
                       next_attempt_at (only while pending),
                       tries, attempts[{at, channel, provider, outcome, code, error}],
                       skipped[] (channels that cannot reach this user), deferred{reason, until},
                       last_error{code, message}, sent_at, channel, receipt,
                       lease_owner, lease_until}
    notify_limits     per-phone SMS limit counters (gates.SmsLimits)
    notify_dev_inbox  what the console provider "sent" (development and tests only)

`send` writes one message and returns; a repeated dedup_key returns the first message's
id. Dispatchers (`dispatch_due`, the `notify-dispatch` background task, any number of
processes) claim due messages with a lease (jobs.claim_one), pass them through quiet
hours and SMS limits (deferring, never dropping), try the template's channels in order,
and record each attempt. Retryable failures back off exponentially with jitter up to
`max_attempts`, then dead-letter; permanent failures dead-letter at once.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.clock import Clock, as_utc
from services.crypto import DecryptionError, FieldCipher, mask_phone
from services.errors import Conflict, InvalidRequest, NotFound
from services.jobs import WORKER_ID, PeriodicTask, claim_one, utc_floor
from services.notify.config import NotifyConfig
from services.notify.gates import QuietHours, SmsLimits
from services.notify.providers import Channel, ChannelError, Delivery
from services.notify.templates import (
    TEMPLATES,
    Template,
    TemplateError,
    check_templates,
)

log = logging.getLogger("palm.notify")

STATUSES = ("queued", "failed", "sent", "dead")


@dataclass
class Recipient:
    """Who gets a message: a plaintext phone (the outbox encrypts it) and/or WeChat openids.
    An openid belongs to one app: `openid` is the mini program's (subscribe messages),
    `official_openid` the 公众号's (template messages)."""

    phone: str | None = None
    openid: str | None = None
    account_id: str | None = None
    official_openid: str | None = None


class NotifyService:
    def __init__(self, db: AsyncDatabase, clock: Clock, cipher: FieldCipher,
                 http: httpx.AsyncClient, config: NotifyConfig, *, development: bool = True,
                 templates: Mapping[str, Template] | None = None,
                 rng: random.Random | None = None,
                 observe_attempt: Callable[[str, str, str], None] | None = None):
        self.messages = db["notify_messages"]
        self.inbox = db["notify_dev_inbox"]
        self.clock = clock
        self.cipher = cipher
        self.http = http
        self.config = config
        self.development = development
        self.templates = dict(TEMPLATES if templates is None else templates)
        self.rng = rng or random.Random()
        # (channel, provider, outcome) of every delivery attempt, for the process's metrics
        self.observe_attempt = observe_attempt or (lambda channel, provider, outcome: None)
        self.quiet = QuietHours(config.quiet_start, config.quiet_end)
        self.limits = SmsLimits(db["notify_limits"], config.sms_per_minute, config.sms_per_day)
        self.channels: dict[str, Channel] = self._build_channels()

    # ---- assembly ------------------------------------------------------------------

    def _build_channels(self) -> dict[str, Channel]:
        from services.notify.providers.build import build_channels
        return build_channels(self.config, self.http, self.clock, self.inbox)

    def check_configuration(self) -> None:
        """Templates and their configuration agree; raises TemplateError otherwise."""
        check_templates(self.templates)
        for name in self.config.template_routes:
            if name not in self.templates:
                raise TemplateError(f"[notify.template_routes] names unknown template {name!r}")
        for name, ids in self.config.templates.items():
            template = self.templates.get(name)
            if template is None:
                raise TemplateError(f"[notify.templates.{name}] names an unknown template")
            unknown = sorted(set(ids.wechat_fields.values()) - set(template.variables))
            if unknown:
                raise TemplateError(f"[notify.templates.{name}] wechat_fields use unknown "
                                    f"variables: {', '.join(unknown)}")
        sms = self.channels.get("sms")
        id_field = {"aliyun": "aliyun_code", "tencent": "tencent_id"}.get(
            sms.provider if sms else "")
        if id_field:
            unconfigured = sorted(
                name for name in self.templates if "sms" in self.config.route_for(name)
                and not getattr(self.config.ids_for(name), id_field))
            if unconfigured:
                raise TemplateError(f"[notify.templates.<name>] {id_field} missing for: "
                                    f"{', '.join(unconfigured)}")
        if not self.development and any(c.provider == "console" for c in self.channels.values()):
            log.warning("notify: a console provider is configured outside development; "
                        "those messages reach nobody")

    async def ensure_indexes(self) -> None:
        self.check_configuration()
        await self.messages.create_index("dedup_key", unique=True)
        await self.messages.create_index([("next_attempt_at", ASCENDING)])
        await self.messages.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("phone_index", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("openid", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("official_openid", ASCENDING), ("created_at", DESCENDING)],
                                         sparse=True)
        await self.inbox.create_index([("phone_index", ASCENDING), ("queued_at", DESCENDING)])
        await self.inbox.create_index([("openid", ASCENDING), ("queued_at", DESCENDING)])
        await self.inbox.create_index([("queued_at", DESCENDING)])

    def background_tasks(self) -> list[PeriodicTask]:
        return [PeriodicTask("notify-dispatch", self._dispatch_round,
                             interval=self.config.poll_seconds)]

    async def _dispatch_round(self) -> int:
        # a short round, so a stopping worker finishes it within its grace period
        return await self.dispatch_due(self.config.batch, budget_seconds=2.0)

    # ---- the outbox ----------------------------------------------------------------

    def check_params(self, template: str, params: Mapping[str, Any]) -> dict[str, str]:
        """The params as strings, exactly the template's variables (else InvalidRequest)."""
        tpl = self.templates.get(template)
        if tpl is None:
            raise InvalidRequest("unknown_template", "未知的消息模板",
                                 details={"template": template})
        given = {k: v for k, v in params.items() if v is not None}
        missing = [v for v in tpl.variables if v not in given or str(given[v]) == ""]
        if missing:
            raise InvalidRequest("template_params_missing", "消息内容不完整",
                                 details={"template": template, "missing": missing})
        unknown = sorted(set(given) - set(tpl.variables))
        if unknown:
            raise InvalidRequest("template_params_unknown", "消息内容含有未知项",
                                 details={"template": template, "unknown": unknown})
        return {name: str(given[name]) for name in tpl.variables}

    async def send(self, event: str, recipient: Recipient, template: str,
                   params: Mapping[str, Any], dedup_key: str, urgent: bool = False,
                   not_before: datetime | None = None) -> str:
        """Queue one message and return its id; a repeated dedup_key is a no-op."""
        clean = self.check_params(template, params)
        phone = (recipient.phone or "").strip() or None
        openid = (recipient.openid or "").strip() or None
        official_openid = (recipient.official_openid or "").strip() or None
        if phone is None and openid is None and official_openid is None:
            raise InvalidRequest("recipient_missing", "缺少接收人的手机号或微信")
        if not dedup_key:
            raise InvalidRequest("dedup_key_missing", "缺少消息去重标识")
        now = utc_floor(self.clock.now())
        due = max(now, utc_floor(as_utc(not_before))) if not_before is not None else now
        doc = {
            "_id": ObjectId(), "event": event, "template": template,
            # params can carry a login code or a tracking number: encrypted like a phone
            "params": self.cipher.encrypt(json.dumps(clean, ensure_ascii=False), aad="params"),
            "dedup_key": dedup_key, "urgent": bool(urgent or self.templates[template].urgent),
            "status": "queued",
            "phone": self.cipher.encrypt(phone, aad="phone") if phone else None,
            "phone_index": self.cipher.blind_index(phone, "phone") if phone else None,
            "phone_masked": mask_phone(phone), "openid": openid,
            "official_openid": official_openid,
            "account_id": recipient.account_id, "created_at": now, "next_attempt_at": due,
            "tries": 0, "attempts": [], "skipped": [], "deferred": None, "last_error": None,
            "sent_at": None, "channel": None, "receipt": None,
            "lease_owner": None, "lease_until": None,
        }
        try:
            await self.messages.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.messages.find_one({"dedup_key": dedup_key}, {"_id": 1})
            if existing is None:      # cannot happen unless deleted in between
                raise
            return str(existing["_id"])
        return str(doc["_id"])

    # ---- the dispatcher ------------------------------------------------------------

    async def dispatch_due(self, limit: int | None = None, worker_id: str = WORKER_ID,
                           budget_seconds: float | None = None) -> int:
        """Claim and handle due messages (sent, deferred, retried or dead); return how many.

        Stops after `limit` messages (default: everything due, up to 1000 — what a test
        wants from one call), or once `budget_seconds` of wall time have passed.
        """
        limit = 1000 if limit is None else limit
        lease = timedelta(seconds=self.config.lease_seconds)
        ends = time.monotonic() + budget_seconds if budget_seconds is not None else None
        handled = 0
        while handled < limit and (ends is None or time.monotonic() < ends):
            candidates = await self._due_candidates(min(limit - handled, 20))
            if not candidates:
                break
            # two dispatchers may see the same candidates: the conditional claim lets
            # exactly one of them have each; the one that lost jumps to a random place in
            # the list, so they stop trailing each other (one dispatcher keeps due order)
            position = 0
            while candidates and handled < limit and (ends is None or time.monotonic() < ends):
                message_id = candidates.pop(position)
                now = self.clock.now()
                doc = await claim_one(self.messages, self.clock,
                                      {"_id": message_id, "next_attempt_at": {"$lte": now}},
                                      lease, worker_id=worker_id)
                if doc is None:
                    position = self.rng.randrange(len(candidates)) if candidates else 0
                    continue
                await self._handle(doc, worker_id)
                handled += 1
                position = position if position < len(candidates) else 0
        return handled

    async def _due_candidates(self, count: int) -> list[ObjectId]:
        """Ids of due, unleased messages, oldest due first (a look; claiming is atomic).

        No sort in the query: MongoDB walks the next_attempt_at index in due order anyway,
        while an explicit sort makes the embedded database sort every due message each
        time; the few candidates are put in (due, id) order here.
        """
        now = self.clock.now()
        cursor = self.messages.find(
            {"$and": [{"next_attempt_at": {"$lte": now}},
                      {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]}]},
            {"_id": 1, "next_attempt_at": 1}).limit(count)
        docs = await cursor.to_list()
        return [d["_id"] for d in sorted(docs, key=lambda d: (d["next_attempt_at"], d["_id"]))]

    async def _handle(self, doc: dict[str, Any], owner: str) -> None:
        now = utc_floor(self.clock.now())
        template = self.templates.get(doc["template"])
        if template is None:
            await self._dead(doc, owner, now, [], "unknown_template", "模板不存在")
            return
        try:
            phone = self.cipher.decrypt(doc.get("phone"), aad="phone")
            params = self._params(doc)
            text = template.render(params)
        except (DecryptionError, KeyError, ValueError) as error:
            # would fail the same way every time: dead-letter instead of looping on it
            await self._dead(doc, owner, now, [], "message_unreadable",
                             f"消息无法读取 ({type(error).__name__})")
            return
        # each channel's address; messages queued before official_openid existed used one openid
        address = {"sms": phone, "subscribe": doc.get("openid"),
                   "official": doc.get("official_openid", doc.get("openid"))}
        skipped = list(doc.get("skipped") or [])
        usable = [name for name in self.config.route_for(template.name)
                  if name in self.channels and name not in skipped and address.get(name)]
        if not usable:
            await self._dead(doc, owner, now, [], "no_channel", "没有可用的发送渠道")
            return
        exempt = doc.get("urgent") or (
            self.config.console_exempt
            and all(self.channels[name].provider == "console" for name in usable))
        if not exempt:
            release = self.quiet.release_time(now)
            if release > now:
                await self._defer(doc, owner, now, [], skipped, release, "quiet_hours")
                return
        delivery = Delivery(
            message_id=str(doc["_id"]), template=template, params=params,
            text=text, phone=phone, openid=None,
            ids=self.config.ids_for(template.name), phone_index=doc.get("phone_index"),
            phone_masked=doc.get("phone_masked", ""), queued_at=doc.get("created_at"))
        attempts: list[dict[str, Any]] = []
        last: ChannelError | None = None
        for name in usable:
            channel = self.channels[name]
            to = delivery if name == "sms" else replace(delivery, openid=address[name])
            reserved = False
            if name == "sms" and not exempt:
                wait = await self.limits.reserve(doc["phone_index"], now)
                if wait is not None:
                    await self._defer(doc, owner, now, attempts, skipped,
                                      self.quiet.release_time(wait), "rate_limit")
                    return
                reserved = True
            try:
                receipt = await channel.deliver(to)
            except Exception as error:
                if not isinstance(error, ChannelError):
                    log.exception("notify: %s/%s raised unexpectedly", name, channel.provider)
                    error = ChannelError("unexpected_error", type(error).__name__, retryable=True)
                if reserved:
                    await self.limits.release(doc["phone_index"], now)
                outcome = ("fallback" if error.fallback else
                           "retry" if error.retryable else "rejected")
                attempts.append(self._attempt(now, channel, outcome, error))
                last = error
                if error.fallback:
                    skipped.append(name)
                    continue
                if error.retryable:
                    await self._retry(doc, owner, now, attempts, skipped, error)
                else:
                    await self._dead(doc, owner, now, attempts, error.code, error.message,
                                     skipped)
                return
            attempts.append(self._attempt(now, channel, "sent", None))
            await self._finish(doc, owner, attempts, {
                "status": "sent", "sent_at": now, "channel": name, "receipt": receipt,
                "skipped": skipped, "deferred": None}, pending=False)
            return
        code, message = (last.code, last.message) if last else ("no_channel", "没有可用的发送渠道")
        await self._dead(doc, owner, now, attempts, code, message, skipped)

    async def status_counts(self) -> dict[str, int]:
        """How many messages the outbox holds in each status (metrics, admin)."""
        return {status: await self.messages.count_documents({"status": status})
                for status in STATUSES}

    def message_params(self, doc: Mapping[str, Any]) -> dict[str, str]:
        """The decrypted template params of a stored message (admin views, tests)."""
        return self._params(doc)

    def _params(self, doc: Mapping[str, Any]) -> dict[str, str]:
        stored = doc["params"]
        if set(stored) == {"k", "n", "c"}:
            return json.loads(self.cipher.decrypt(stored, aad="params") or "{}")
        return dict(stored)        # written before params were encrypted

    def _attempt(self, now: datetime, channel: Channel, outcome: str,
                 error: ChannelError | None) -> dict[str, Any]:
        self.observe_attempt(channel.name, channel.provider, outcome)
        return {"at": now, "channel": channel.name, "provider": channel.provider,
                "outcome": outcome, "code": error.code if error else None,
                "error": error.message if error else None}

    def backoff(self, tries: int) -> timedelta:
        """Delay before retry number `tries` (1-based): exponential, capped, with jitter."""
        base = min(self.config.backoff_max_seconds,
                   self.config.backoff_base_seconds * (2 ** (tries - 1)))
        return timedelta(seconds=base * (1 - self.config.backoff_jitter * self.rng.random()))

    async def _retry(self, doc: dict[str, Any], owner: str, now: datetime,
                     attempts: list[dict[str, Any]], skipped: list[str],
                     error: ChannelError) -> None:
        tries = int(doc.get("tries") or 0) + 1
        if tries >= self.config.max_attempts:
            await self._dead(doc, owner, now, attempts, error.code, error.message, skipped)
            return
        await self._finish(doc, owner, attempts, {
            "status": "failed", "tries": tries, "skipped": skipped, "deferred": None,
            "next_attempt_at": utc_floor(now + self.backoff(tries)),
            "last_error": {"code": error.code, "message": error.message}})

    async def _defer(self, doc: dict[str, Any], owner: str, now: datetime,
                     attempts: list[dict[str, Any]], skipped: list[str], until: datetime,
                     reason: str) -> None:
        until = utc_floor(until)
        await self._finish(doc, owner, attempts, {
            "next_attempt_at": until, "skipped": skipped,
            "deferred": {"reason": reason, "until": until, "at": now}})

    async def _dead(self, doc: dict[str, Any], owner: str, now: datetime,
                    attempts: list[dict[str, Any]], code: str, message: str,
                    skipped: list[str] | None = None) -> None:
        log.warning("notify: message %s dead-lettered: %s", doc["_id"], code)
        await self._finish(doc, owner, attempts, {
            "status": "dead", "dead_at": now, "skipped": skipped or [], "deferred": None,
            "last_error": {"code": code, "message": message}}, pending=False)

    async def _finish(self, doc: dict[str, Any], owner: str, attempts: list[dict[str, Any]],
                      fields: dict[str, Any], pending: bool = True) -> None:
        """Record the outcome; only the lease owner may (a taken-over lease writes nothing)."""
        update: dict[str, Any] = {"$set": {**fields, "lease_owner": None, "lease_until": None}}
        if not pending:
            update["$unset"] = {"next_attempt_at": ""}
        if attempts:
            update["$push"] = {"attempts": {"$each": attempts}}
        result = await self.messages.update_one({"_id": doc["_id"], "lease_owner": owner}, update)
        if not result.matched_count:
            log.warning("notify: lease on message %s was lost before recording", doc["_id"])

    # ---- reading: dev inbox and admin ----------------------------------------------

    async def dev_inbox(self, phone: str | None = None, openid: str | None = None,
                        limit: int = 50) -> list[dict[str, Any]]:
        """What the console provider delivered, newest message first (development only)."""
        query: dict[str, Any] = {}
        if phone:
            query["phone_index"] = self.cipher.blind_index(phone.strip(), "phone")
        if openid:
            query["openid"] = openid.strip()
        docs = await self.inbox.find(query).sort(
            [("queued_at", DESCENDING), ("message_id", DESCENDING), ("_id", DESCENDING)]
        ).limit(limit).to_list()
        return [{"id": str(d["_id"]), "message_id": d["message_id"], "channel": d["channel"],
                 "template": d["template"], "title": d.get("title", ""), "text": d["text"],
                 "params": d.get("params", {}), "phone": d.get("phone_masked", ""),
                 "openid": d.get("openid"), "at": d["at"], "queued_at": d.get("queued_at")}
                for d in docs]

    async def list_messages(self, status: str | None = None, recipient: str | None = None,
                            limit: int = 100) -> list[dict[str, Any]]:
        """Messages for the admin, newest first; recipient is a phone (blind index) or openid."""
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if recipient:
            value = recipient.strip()
            query["$or"] = [{"phone_index": self.cipher.blind_index(value, "phone")},
                            {"openid": value}, {"official_openid": value}]
        docs = await self.messages.find(query, {"phone": 0}).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list()
        return [message_view(d) for d in docs]

    async def get_message(self, message_id: str) -> dict[str, Any]:
        """One message for the admin (masked)."""
        doc = await self.messages.find_one({"_id": _oid(message_id)}, {"phone": 0})
        if doc is None:
            raise NotFound("message_not_found", "未找到该消息")
        return message_view(doc)

    async def retry_dead(self, message_id: str) -> dict[str, Any]:
        """Put a dead message back in the queue, due now, with a fresh retry budget."""
        now = utc_floor(self.clock.now())
        oid = _oid(message_id)
        result = await self.messages.update_one(
            {"_id": oid, "status": "dead"},
            {"$set": {"status": "queued", "next_attempt_at": now, "tries": 0, "skipped": [],
                      "deferred": None, "retried_at": now, "lease_owner": None,
                      "lease_until": None}})
        if not result.modified_count:
            if await self.messages.find_one({"_id": oid}, {"_id": 1}) is None:
                raise NotFound("message_not_found", "未找到该消息")
            raise Conflict("message_not_dead", "只有发送失败（已放弃）的消息可以重发")
        return await self.get_message(message_id)


def _oid(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound("message_not_found", "未找到该消息") from None


def message_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A message as the admin sees it: masked phone, no ciphertext, attempts listed."""
    def masked(openid: str | None) -> str | None:
        return (openid[:4] + "****" + openid[-4:]) if openid and len(openid) > 8 else openid

    return {
        "id": str(doc["_id"]), "event": doc.get("event", ""), "template": doc["template"],
        "status": doc["status"], "urgent": bool(doc.get("urgent")),
        "phone": doc.get("phone_masked", ""),
        "openid": masked(doc.get("openid")), "official_openid": masked(doc.get("official_openid")),
        "account_id": doc.get("account_id"), "created_at": doc["created_at"],
        "next_attempt_at": doc.get("next_attempt_at"), "sent_at": doc.get("sent_at"),
        "channel": doc.get("channel"), "tries": doc.get("tries", 0),
        "attempts": [dict(a) for a in doc.get("attempts", [])],
        "deferred": doc.get("deferred"), "last_error": doc.get("last_error"),
    }
