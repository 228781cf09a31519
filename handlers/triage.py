"""Smart triage (智能导诊): the public API and the H5 chat page."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from handlers.base import PUBLIC, ApiHandler, PageHandler, api
from services.models import ApiModel, OutModel
from services.triage import TriageQuery

Short = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TriageIn(ApiModel):
    text: str = Field("", max_length=2000, description="患者自己的描述，如“孩子发烧两天，咳嗽有痰”")
    age: float | None = Field(None, ge=0, le=130, description="年龄（岁），婴儿可用小数：0.2 ≈ 2 个月")
    sex: Literal["male", "female"] | None = None
    pregnant: bool | None = None
    body_parts: list[Short] = Field(default_factory=list, max_length=10, description="身体部位，如“腹部”")
    answers: dict[Short, Short] = Field(default_factory=dict, max_length=10,
                                        description="对追问的回答：{问题 id: 选项 value}")

    @model_validator(mode="after")
    def _something_to_go_on(self) -> TriageIn:
        if not self.text and not self.body_parts and not self.answers:
            raise ValueError("请描述您的症状或选择不舒服的部位")
        if self.pregnant and self.sex == "male":
            raise ValueError("男性不能选择“怀孕”")
        return self


class RedFlagOut(OutModel):
    code: str
    name: str
    advice: str


class DepartmentPick(OutModel):
    department_id: str | None = Field(description="null 表示导诊台（不可预约）")
    name: str
    score: float
    reason: str
    fallback: bool = Field(False, description="未识别出症状时的兜底建议（全科医学科或导诊台）")


class OptionOut(OutModel):
    value: str
    label: str


class QuestionOut(OutModel):
    id: str
    text: str
    options: list[OptionOut]


class TriageOut(OutModel):
    emergency: bool
    red_flags: list[RedFlagOut]
    departments: list[DepartmentPick]
    questions: list[QuestionOut]
    advice: str = ""
    symptoms: list[str] = Field(default_factory=list, description="识别到的症状")
    negated: list[str] = Field(default_factory=list, description="明确否认的症状")
    kb_version: int


class TriageHandler(ApiHandler):
    @api(auth=PUBLIC, body=TriageIn, response=TriageOut, summary="智能导诊", tags=("triage",),
         errors=(400,), description="从患者自己的话推荐科室（最多三个）；危险信号优先，提示急诊与 120；"
                                     "描述太模糊时给出最多两个可点选的追问，回答放进 answers 再次提交。")
    async def post(self, body: TriageIn):
        """Recommend departments (or the emergency) for a patient's own words."""
        return await self.services.triage.triage(TriageQuery(
            text=body.text, age=body.age, sex=body.sex, pregnant=body.pregnant,
            body_parts=tuple(body.body_parts), answers=tuple(body.answers.items())))


class TriagePageHandler(PageHandler):
    async def get(self):
        """The chat-like triage page with a tap-to-pick body map."""
        self.render("h5/triage.html", body_map=self.services.triage.body_map(), page_title="智能导诊")


routes = [
    (r"/api/v1/triage", TriageHandler),
    (r"/h5/triage", TriagePageHandler),
]
