"""Base classes for request and response models (pydantic v2).

Request bodies forbid unknown fields and strip whitespace, so a typo in a field name
is a 400, not a silently ignored value. Response models are plain and documented.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """A request body or query: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutModel(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="ignore")


class ErrorBody(OutModel):
    code: str
    message: str
    details: object | None = None


class ErrorResponse(OutModel):
    """Every 4xx/5xx from the API has this shape."""

    error: ErrorBody
