"""OpenAPI 3.1 document generated from the route table and the `@api` declarations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, TypeAdapter

from handlers.base import ApiSpec
from services.models import ErrorResponse

METHODS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "患者或员工登录后得到的令牌 (patient or staff session token)"},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "palm_session",
                   "description": "H5 页面的会话 Cookie；写操作需同时带 X-XSRFToken 头"},
    "deviceSignature": {
        "type": "apiKey", "in": "header", "name": "X-Palm-Key-Id",
        "description": ("Devices and the HIS sign each request: headers X-Palm-Key-Id, "
                        "X-Palm-Timestamp, X-Palm-Nonce, X-Palm-Signature = base64(HMAC-SHA256("
                        "secret, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256_HEX(BODY)))")},
}


def path_template(pattern: str) -> str:
    return _GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern).rstrip("$").lstrip("^")


def iter_api_operations(routes: list[Any]) -> Iterator[tuple[str, str, type, ApiSpec]]:
    """(path template, method, handler class, spec) for every `@api` method."""
    for route in routes:
        pattern, handler = (route.regex.pattern, route.handler_class) if hasattr(route, "regex") \
            else (route[0], route[1])
        for method in METHODS:
            spec = getattr(getattr(handler, method, None), "__api__", None)
            if isinstance(spec, ApiSpec):
                yield path_template(pattern), method, handler, spec


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, tp: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            self.components[tp.__name__] = schema
            return {"$ref": f"#/components/schemas/{tp.__name__}"}
        return schema


def build_openapi(routes: list[Any], title: str, version: str = "1.0.0") -> dict[str, Any]:
    schemas = _Schemas()
    error_ref = schemas.ref(ErrorResponse, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler, spec in iter_api_operations(routes):
        operation: dict[str, Any] = {
            "operationId": f"{handler.__name__}.{method}",
            "summary": spec.summary or handler.__doc__ or handler.__name__,
            "tags": list(spec.tags) or [handler.__module__.rsplit(".", 1)[-1]],
            "security": spec.auth.security,
            "x-auth": spec.auth.name,
        }
        if spec.description:
            operation["description"] = spec.description
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in re.findall(r"{(\w+)}", path)]
        if spec.query is not None:
            query_schema = spec.query.model_json_schema(mode="validation")
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required,
                                   "schema": prop})
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schemas.ref(spec.body, "validation")}}}
        responses: dict[str, Any] = {}
        if spec.status == 204:
            responses["204"] = {"description": "No Content"}
        elif spec.content_type != "application/json":
            responses[str(spec.status)] = {"description": "OK", "content": {
                spec.content_type: {"schema": {"type": "string", "format": "binary"}}}}
        else:
            body_schema = schemas.ref(spec.response, "serialization") if spec.response is not None \
                else {}
            responses[str(spec.status)] = {"description": "OK", "content": {
                "application/json": {"schema": body_schema}}}
        error_codes = {400, 404, *spec.errors, 503}
        if spec.auth.security:
            error_codes |= {401, 403}
        for code in sorted(error_codes):
            responses[str(code)] = {"description": "Error", "content": {
                "application/json": {"schema": error_ref}}}
        operation["responses"] = responses
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "掌上医院 API. Errors: {\"error\": {\"code\", \"message\", \"details\"}}."},
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": SECURITY_SCHEMES},
    }
