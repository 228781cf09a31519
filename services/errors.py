"""Domain errors. Services raise these; one place (handlers/base.py) renders them.

    DomainError                     code, Chinese message, details; status is HTTP's
    ├── InvalidRequest              400  malformed or invalid input
    ├── Unauthorized                401  no or bad credentials / signature
    ├── Forbidden                   403  authenticated but not allowed (staff role, device kind)
    ├── NotFound                    404  absent, or not yours (ids never leak)
    ├── Conflict                    409  state changed under you (slot_full, invalid_transition)
    ├── PayloadTooLarge             413
    ├── BusinessRuleViolation       422  a hospital rule says no (not_released, code_expired)
    ├── RateLimited                 429  with retry_after seconds
    └── DependencyUnavailable       503  a service we call is down
        └── DatabaseUnavailable     503  database_unavailable

Every error has a stable English snake_case `code` for programs and a Chinese
`message` for patients. Services never raise Tornado's HTTPError.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    default_code = "error"
    default_message = "请求无法处理"

    def __init__(self, code: str | None = None, message: str | None = None, details: Any = None):
        self.code = code or self.default_code
        self.message = message or self.default_message
        self.details = details
        super().__init__(f"{self.code}: {self.message}")

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidRequest(DomainError):
    status = 400
    default_code = "invalid_request"
    default_message = "请求内容有误，请检查后重试"


class Unauthorized(DomainError):
    status = 401
    default_code = "unauthorized"
    default_message = "请先登录"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"
    default_message = "您没有权限进行此操作"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"
    default_message = "未找到相关记录"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"
    default_message = "状态已变化，请刷新后重试"


class PayloadTooLarge(DomainError):
    status = 413
    default_code = "payload_too_large"
    default_message = "提交的内容过大"


class BusinessRuleViolation(DomainError):
    status = 422
    default_code = "rule_violation"
    default_message = "不符合业务规则"


class RateLimited(DomainError):
    status = 429
    default_code = "rate_limited"
    default_message = "操作过于频繁，请稍后再试"

    def __init__(self, code: str | None = None, message: str | None = None,
                 details: Any = None, retry_after: int = 60):
        super().__init__(code, message, details)
        self.retry_after = max(1, int(retry_after))


class DependencyUnavailable(DomainError):
    status = 503
    default_code = "dependency_unavailable"
    default_message = "服务暂时不可用，请稍后再试"


class DatabaseUnavailable(DependencyUnavailable):
    default_code = "database_unavailable"
    default_message = "系统繁忙，请稍后再试"
