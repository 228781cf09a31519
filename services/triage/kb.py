"""The triage knowledge base: its schema (pydantic), cross-reference validation and loading.

The knowledge base is data (config/triage/kb.json in the repository, then versions edited
by admins and stored in MongoDB). `KnowledgeBase.model_validate` checks the shape;
`validate_kb` checks that every name it refers to exists, so an admin's edit can never
leave the engine pointing at a department or symptom that is not defined.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.errors import InvalidRequest

Sex = Literal["male", "female"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Department(_Strict):
    """A department the knowledge base can recommend, matched onto the hospital's tree by
    name or alias; absent there, its `parent` (recursively) takes over."""

    aliases: list[str] = []
    parent: str | None = None
    sex: Sex | None = None              # only for this sex …
    other_sex: str | None = None        # … otherwise its score moves here (or is dropped)
    child_to: str | None = None         # for children, its score moves here (e.g. 儿科)
    max_age: float | None = None        # only below this age (儿科); dropped otherwise


class Symptom(_Strict):
    synonyms: list[str] = Field(min_length=1)
    departments: dict[str, float] = {}
    general: bool = False               # accompanying symptom: "…伴发热" in reasons
    vague: bool = False                 # says little on its own (不舒服)
    ask: list[str] = []                 # follow-up questions when it is the only symptom
    implies: list[str] = []             # other symptoms it entails (高热 → 发热)
    sets_pregnant: bool = False         # 怀孕、孕妇 …
    sets_sex: Sex | None = None         # 白带 → female, 阳痿 → male
    child: bool = False                 # only children have it (手足口病、新生儿黄疸)


class BodyPart(_Strict):
    synonyms: list[str] = Field(min_length=1)
    pain: str | None = None             # "<part> … 疼" becomes this symptom
    states: dict[str, str] = {}         # "<part> … <word>" becomes a symptom: 嘴唇…紫 → 紫绀
    departments: dict[str, float] = {}
    symptoms: list[str] = []            # offered as taps on the page's body map
    ask: list[str] = []


class Pattern(_Strict):
    """A regular expression for what words alone miss: "吐了一大盆血" → 呕血."""

    regex: str = Field(min_length=2, max_length=200)
    symptom: str


class Combo(_Strict):
    """Symptoms that together point somewhere more than apart: 腰痛 + 血尿 → 泌尿外科."""

    when: list[str] = Field(min_length=2)
    departments: dict[str, float] = Field(min_length=1)


class Modifier(_Strict):
    label: str
    words: list[str] = Field(min_length=1)
    factor: float = Field(1.0, ge=0.1, le=5)
    scope: Literal["clause", "text"] = "clause"     # 突然 said anywhere qualifies every symptom


class Subject(_Strict):
    """Words about who is ill: 宝宝 → a child, 我妈 → an adult woman, 新生儿 → an infant."""

    words: list[str] = Field(min_length=1)
    age: float | None = None            # a representative age in years
    child: bool | None = None
    sex: Sex | None = None


class QuestionOption(_Strict):
    value: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=40)
    adds: list[str] = []                # symptoms this answer confirms
    denies: list[str] = []              # symptoms this answer rules out
    body_parts: list[str] = []


class Question(_Strict):
    text: str = Field(min_length=1, max_length=80)
    options: list[QuestionOption] = Field(min_length=2, max_length=8)


class RedFlag(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    when: list[list[str]] = Field(min_length=1)    # all groups, any symptom of each group
    with_modifiers: dict[str, list[str]] = {}      # symptom → modifiers its mention must carry
    min_age: float | None = None
    max_age: float | None = None
    sex: Sex | None = None
    pregnant: bool | None = None
    target: str                                    # a department of the knowledge base
    advice: str


class Rules(_Strict):
    child_max_age: float = Field(14, gt=0, le=18)
    child_department: str = "儿科"
    pregnancy_department: str = "产科"
    pregnancy_redirect: dict[str, str] = {}
    pregnancy_boost: float = Field(2.0, ge=0)
    emergency_department: str = "急诊科"            # where a red flag goes when its target is missing
    emergency_advice: str
    fallback_department: str | None = None          # nothing understood: this one if the hospital has it …
    fallback_desk: str = "导诊台"                    # … else the enquiry desk, so the answer is never empty
    min_share: float = Field(0.15, ge=0, le=1)      # a department below this share of the top is not shown
    vague_max_symptoms: int = Field(1, ge=0, le=5)  # ≤ this many specific symptoms → ask
    negation_gap: int = Field(4, ge=0, le=10)       # filler characters between 没有 and the symptom
    pain_gap: int = Field(8, ge=0, le=20)           # characters between 肚子 and 疼
    fever_symptom: str | None = "发热"              # "38度5" counts as this …
    fever_at: float = 37.3
    high_fever_symptom: str | None = "高热"         # … and "39度" as this
    high_fever_at: float = 39.0
    high_bp_symptom: str | None = None              # "血压200" counts as this
    high_bp_at: int = 180


class KnowledgeBase(_Strict):
    title: str = ""
    rules: Rules
    negations: list[str] = Field(min_length=1)
    breakers: list[str] = []            # end a negation's reach: 但是、可是 (punctuation always does)
    coordinators: list[str] = []        # carry it on: 和、也、或
    neutral: list[str] = []             # words with 不/没/无 inside that negate nothing (不舒服)
    pain_words: list[str] = Field(min_length=1)
    unattached: dict[str, str] = {}     # a state word no body part claims: 痒 → 皮肤瘙痒
    patterns: list[Pattern] = []
    combos: list[Combo] = []
    modifiers: dict[str, Modifier] = {}
    subjects: dict[str, Subject] = {}
    departments: dict[str, Department] = Field(min_length=1)
    body_parts: dict[str, BodyPart] = {}
    symptoms: dict[str, Symptom] = Field(min_length=1)
    questions: dict[str, Question] = {}
    red_flags: list[RedFlag] = []


def validate_kb(data: Any) -> KnowledgeBase:
    """Parse and cross-check a knowledge base; InvalidRequest `kb_invalid` lists every problem."""
    try:
        kb = KnowledgeBase.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest("kb_invalid", "知识库格式不正确", details=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in error.errors(include_url=False, include_input=False)][:50]) from None
    problems = _cross_check(kb)
    if problems:
        raise InvalidRequest("kb_invalid", "知识库内容有误", details=problems[:50])
    return kb


def _cross_check(kb: KnowledgeBase) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []

    def need(kind: str, name: str | None, pool: dict[str, Any], where: str) -> None:
        if name is not None and name not in pool:
            problems.append({"field": where, "message": f"未定义的{kind}：{name}"})

    depts, symptoms, parts, questions = kb.departments, kb.symptoms, kb.body_parts, kb.questions
    for name, d in depts.items():
        for ref, label in ((d.parent, "parent"), (d.other_sex, "other_sex"), (d.child_to, "child_to")):
            need("科室", ref, depts, f"departments.{name}.{label}")
        seen, cur = {name}, d.parent
        while cur is not None and cur in depts:
            if cur in seen:
                problems.append({"field": f"departments.{name}.parent", "message": "上级科室形成了循环"})
                break
            seen.add(cur)
            cur = depts[cur].parent
    r = kb.rules
    for ref, label in ((r.child_department, "child_department"),
                       (r.pregnancy_department, "pregnancy_department"),
                       (r.emergency_department, "emergency_department")):
        need("科室", ref, depts, f"rules.{label}")
    for ref, label in ((r.fever_symptom, "fever_symptom"), (r.high_fever_symptom, "high_fever_symptom"),
                       (r.high_bp_symptom, "high_bp_symptom")):
        need("症状", ref, kb.symptoms, f"rules.{label}")
    for a, b in r.pregnancy_redirect.items():
        need("科室", a, depts, "rules.pregnancy_redirect")
        need("科室", b, depts, "rules.pregnancy_redirect")
    owner: dict[str, str] = {}
    for name, s in symptoms.items():
        for d in s.departments:
            need("科室", d, depts, f"symptoms.{name}.departments")
        for q in s.ask:
            need("追问", q, questions, f"symptoms.{name}.ask")
        for other in s.implies:
            need("症状", other, symptoms, f"symptoms.{name}.implies")
        for word in dict.fromkeys((name, *s.synonyms)):
            if word in owner and owner[word] != name:
                problems.append({"field": f"symptoms.{name}.synonyms",
                                 "message": f"同义词“{word}”同时属于“{owner[word]}”"})
            owner[word] = name
    for name, p in parts.items():
        need("症状", p.pain, symptoms, f"body_parts.{name}.pain")
        for word, target in p.states.items():
            need("症状", target, symptoms, f"body_parts.{name}.states.{word}")
        for d in p.departments:
            need("科室", d, depts, f"body_parts.{name}.departments")
        for s in p.symptoms:
            need("症状", s, symptoms, f"body_parts.{name}.symptoms")
        for q in p.ask:
            need("追问", q, questions, f"body_parts.{name}.ask")
    for qid, q in questions.items():
        values = [o.value for o in q.options]
        if len(set(values)) != len(values):
            problems.append({"field": f"questions.{qid}.options", "message": "选项取值重复"})
        for o in q.options:
            for s in o.adds + o.denies:
                need("症状", s, symptoms, f"questions.{qid}.options")
            for p in o.body_parts:
                need("部位", p, parts, f"questions.{qid}.options")
    for word, target in kb.unattached.items():
        need("症状", target, symptoms, f"unattached.{word}")
    for i, pattern in enumerate(kb.patterns):
        need("症状", pattern.symptom, symptoms, f"patterns.{i}.symptom")
        try:
            re.compile(pattern.regex)
        except re.error as error:
            problems.append({"field": f"patterns.{i}.regex", "message": f"正则表达式有误：{error}"})
    for i, combo in enumerate(kb.combos):
        for s in combo.when:
            need("症状", s, symptoms, f"combos.{i}.when")
        for d in combo.departments:
            need("科室", d, depts, f"combos.{i}.departments")
    codes = [f.code for f in kb.red_flags]
    if len(set(codes)) != len(codes):
        problems.append({"field": "red_flags", "message": "危险信号编码重复"})
    for f in kb.red_flags:
        need("科室", f.target, depts, f"red_flags.{f.code}.target")
        for group in f.when:
            if not group:
                problems.append({"field": f"red_flags.{f.code}.when", "message": "条件组不能为空"})
            for s in group:
                need("症状", s, symptoms, f"red_flags.{f.code}.when")
        for s, mods in f.with_modifiers.items():
            need("症状", s, symptoms, f"red_flags.{f.code}.with_modifiers")
            for m in mods:
                need("程度词", m, kb.modifiers, f"red_flags.{f.code}.with_modifiers")
    return problems


def load_kb_file(path: Path) -> tuple[KnowledgeBase, dict[str, Any]]:
    """Read and validate the repository's knowledge base file (at start-up)."""
    with path.open(encoding="utf-8") as fh:
        raw = json.load(fh)
    return validate_kb(raw), raw
