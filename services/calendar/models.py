"""Calendar API models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from services.models import ApiModel, OutModel

DayKind = Literal["workday", "weekend", "holiday", "adjusted_workday", "hospital_open",
                  "hospital_closed"]


class CalendarDayOut(OutModel):
    date: date
    open: bool = Field(description="医院当天是否正常开诊（放号、提醒按此跳过休息日）")
    kind: DayKind = Field(description="workday 工作日 / weekend 周末 / holiday 法定节假日 / "
                          "adjusted_workday 调休上班 / hospital_open·hospital_closed 医院调整")
    name: str = Field("", description="节日名称或医院说明")
    source: Literal["chinesecalendar", "fallback", "config", "admin"]


class CalendarQuery(ApiModel):
    start: date | None = Field(None, description="起始日期，缺省为今天（北京时间）")
    days: int = Field(31, ge=1, le=366)


class OverrideIn(ApiModel):
    open: bool = Field(description="true 当天开诊（如节假日门诊），false 当天休息")
    note: str = Field("", max_length=100, description="说明，如“院庆停诊”")


class OverrideOut(OutModel):
    date: date
    open: bool
    note: str
    updated_by: str
    updated_at: datetime


class OverrideQuery(ApiModel):
    start: date | None = Field(None, description="只列出此日期及以后的调整，缺省为今天")
