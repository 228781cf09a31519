"""The triage engine: mentions → red flags, department scores, reasons and follow-up questions.

Pure and synchronous (no I/O): built once per knowledge-base version, shared by all requests.

    red flags      every rule whose groups are all satisfied (any symptom of each group,
                   carrying the modifiers the rule asks for, age/sex/pregnancy matching)
    scores         Σ weight(symptom, department) × modifier factors, plus body parts;
                   then the rules: children → 儿科, sex-specific departments, pregnancy
    hospital       each knowledge-base department → the hospital's own department
                   (by name or alias, else the nearest parent that exists: mapping.py)
    questions      when at most `vague_max_symptoms` specific symptoms were found, the
                   questions of those symptoms/body parts not yet answered (at most two)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.errors import InvalidRequest
from services.triage.kb import KnowledgeBase
from services.triage.mapping import DepartmentMap
from services.triage.matcher import Analysis, Matcher, Mention


@dataclass(frozen=True)
class TriageQuery:
    text: str = ""
    age: float | None = None
    sex: str | None = None
    pregnant: bool | None = None
    body_parts: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()


@dataclass
class Finding:
    """What was understood from the words and answers, before any department is chosen."""

    present: dict[str, frozenset[str]] = field(default_factory=dict)   # symptom → modifiers
    order: list[str] = field(default_factory=list)                     # first mention order
    negated: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    age: float | None = None
    child: bool = False
    sex: str | None = None
    pregnant: bool = False


class Engine:
    def __init__(self, kb: KnowledgeBase, max_departments: int = 3, max_questions: int = 2):
        self.kb = kb
        self.matcher = Matcher(kb)
        self.max_departments = max_departments
        self.max_questions = max_questions

    # -- understanding -------------------------------------------------------------------
    def understand(self, query: TriageQuery) -> Finding:
        """Symptoms present/negated, body parts, age, sex and pregnancy from words and answers."""
        kb = self.kb
        analysis = self.matcher.analyze(query.text)
        mentions = list(analysis.mentions)
        parts = list(analysis.parts)
        for qid, value in query.answers:
            question = kb.questions.get(qid)
            if question is None:
                raise InvalidRequest("unknown_question", "追问不存在或已更新，请重新提交",
                                     details={"question": qid})
            option = next((o for o in question.options if o.value == value), None)
            if option is None:
                raise InvalidRequest("invalid_answer", "追问的回答不在选项内",
                                     details={"question": qid, "answer": value})
            mentions += [Mention(s, -1, -1, False, source="answer") for s in option.adds]
            mentions += [Mention(s, -1, -1, True, source="answer") for s in option.denies]
            parts += [p for p in option.body_parts if p not in parts]
        for part in query.body_parts:
            if part not in kb.body_parts:
                raise InvalidRequest("unknown_body_part", "不认识这个身体部位", details={"body_part": part})
            if part not in parts:
                parts.append(part)
        finding = Finding(parts=parts)
        positive: dict[str, set[str]] = {}
        denied: set[str] = set()
        for m in mentions:
            if not m.symptom:
                continue
            if m.negated:
                denied.add(m.symptom)
                continue
            for name in (m.symptom, *kb.symptoms[m.symptom].implies):
                positive.setdefault(name, set()).update(m.modifiers)
                if name not in finding.order:
                    finding.order.append(name)
        finding.present = {k: frozenset(v) for k, v in positive.items()}
        finding.negated = sorted(denied - set(positive))
        self._who(query, analysis, finding)
        return finding

    def _who(self, query: TriageQuery, analysis: Analysis, finding: Finding) -> None:
        kb = self.kb
        finding.age = query.age if query.age is not None else analysis.age
        if finding.age is not None:
            finding.child = finding.age < kb.rules.child_max_age
        else:
            finding.child = bool(analysis.child) or any(kb.symptoms[s].child for s in finding.present)
        sex = query.sex or analysis.sex
        if sex is None:
            sex = next((kb.symptoms[s].sets_sex for s in finding.order if kb.symptoms[s].sets_sex), None)
        finding.sex = sex
        pregnant = query.pregnant
        if pregnant is None:
            pregnant = any(kb.symptoms[s].sets_pregnant for s in finding.present)
        finding.pregnant = bool(pregnant) and sex != "male"
        if finding.pregnant:
            finding.sex = "female"
            finding.child = finding.child and query.age is not None

    # -- red flags -----------------------------------------------------------------------
    def red_flags(self, f: Finding) -> list[Any]:
        """The red-flag rules that fire, in knowledge-base order."""
        fired = []
        for rule in self.kb.red_flags:
            if rule.pregnant is not None and rule.pregnant != f.pregnant:
                continue
            if rule.sex is not None and rule.sex != f.sex:
                continue
            if rule.max_age is not None and (f.age is None or f.age >= rule.max_age):
                continue
            if rule.min_age is not None and (f.age is None or f.age < rule.min_age):
                continue
            if all(any(self._has(f, s, rule.with_modifiers.get(s, ())) for s in group)
                   for group in rule.when):
                fired.append(rule)
        return fired

    @staticmethod
    def _has(f: Finding, symptom: str, modifiers: Any) -> bool:
        mods = f.present.get(symptom)
        return mods is not None and all(m in mods for m in modifiers)

    # -- scoring -------------------------------------------------------------------------
    def scores(self, f: Finding) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, str]]:
        """Knowledge-base department → score, its contributions by symptom, and notes."""
        kb = self.kb
        scores: dict[str, float] = {}
        contrib: dict[str, dict[str, float]] = {}
        notes: dict[str, str] = {}

        def add(dept: str, amount: float, because: str | None) -> None:
            scores[dept] = scores.get(dept, 0.0) + amount
            if because:
                c = contrib.setdefault(dept, {})
                c[because] = c.get(because, 0.0) + amount

        for name, mods in f.present.items():
            factor = 1.0
            for m in mods:
                factor *= kb.modifiers[m].factor
            for dept, weight in kb.symptoms[name].departments.items():
                add(dept, weight * factor, name)
        for part in f.parts:
            for dept, weight in kb.body_parts[part].departments.items():
                add(dept, weight, None)
        for combo in kb.combos:
            if all(s in f.present for s in combo.when):
                for dept, weight in combo.departments.items():
                    for s in combo.when:
                        add(dept, weight / len(combo.when), s)
        if f.pregnant and scores:
            add(kb.rules.pregnancy_department, kb.rules.pregnancy_boost, None)
            notes[kb.rules.pregnancy_department] = "孕期优先产科"

        def move(src: str, dst: str | None, note: str) -> None:
            amount = scores.pop(src, 0.0)
            moved = contrib.pop(src, {})
            if dst is None or amount <= 0:
                return
            scores[dst] = scores.get(dst, 0.0) + amount
            c = contrib.setdefault(dst, {})
            for k, v in moved.items():
                c[k] = c.get(k, 0.0) + v
            notes.setdefault(dst, note)

        for dept in list(scores):
            d = kb.departments[dept]
            if d.sex is not None and f.sex is not None and d.sex != f.sex:
                move(dept, d.other_sex, "")
            elif f.pregnant and dept in kb.rules.pregnancy_redirect:
                move(dept, kb.rules.pregnancy_redirect[dept], "孕期优先产科")
            elif f.child and d.child_to:
                move(dept, d.child_to, f"{kb.rules.child_max_age:g} 岁以下儿童")
            elif d.max_age is not None and not f.child:
                move(dept, None, "")
        return scores, contrib, notes

    # -- questions -----------------------------------------------------------------------
    def questions(self, f: Finding, answered: set[str]) -> list[dict[str, Any]]:
        """Follow-up questions when the words are too vague to decide (at most two)."""
        kb = self.kb
        specific = [s for s in f.present if not kb.symptoms[s].general and not kb.symptoms[s].vague]
        if len(specific) > kb.rules.vague_max_symptoms:
            return []
        wanted: list[str] = []
        for s in f.order:
            wanted += kb.symptoms[s].ask
        for p in f.parts:
            wanted += kb.body_parts[p].ask
        if not specific and not f.parts and "where" in kb.questions:
            wanted.append("where")
        known = set(f.present) | set(f.negated)
        out: list[dict[str, Any]] = []
        for qid in dict.fromkeys(wanted):
            if qid in answered:
                continue
            q = kb.questions[qid]
            touches = {s for o in q.options for s in o.adds + o.denies}
            if touches and touches <= known:
                continue
            out.append({"id": qid, "text": q.text,
                        "options": [{"value": o.value, "label": o.label} for o in q.options]})
            if len(out) >= self.max_questions:
                break
        return out

    # -- the whole thing -----------------------------------------------------------------
    def triage(self, query: TriageQuery, departments: DepartmentMap) -> dict[str, Any]:
        """The answer to one request, against one hospital's department tree."""
        kb = self.kb
        f = self.understand(query)
        flags = self.red_flags(f)
        scores, contrib, notes = self.scores(f)
        if not scores and f.child and f.present:
            scores[kb.rules.child_department] = 1.0
        ranked = self._rank(f, scores, contrib, notes, departments)
        result: dict[str, Any] = {
            "emergency": bool(flags),
            "red_flags": [{"code": r.code, "name": r.name, "advice": r.advice} for r in flags],
            "departments": [],
            "questions": [],
            "symptoms": list(f.order),
            "negated": f.negated,
            "advice": kb.rules.emergency_advice if flags else "",
        }
        if flags:
            seen: set[str] = set()
            for rule in flags:
                target = (departments.resolve(rule.target)
                          or departments.resolve(kb.rules.emergency_department))
                if target is None or target.id in seen:
                    continue
                seen.add(target.id)
                why = "、".join(s for g in rule.when for s in g if s in f.present)
                result["departments"].append({"department_id": target.id, "name": target.name,
                                              "score": 1.0, "reason": f"{rule.name}：{why} → {target.name}"})
            for item in ranked:
                if item["department_id"] not in seen and len(result["departments"]) < self.max_departments:
                    result["departments"].append(item)
            return result
        result["departments"] = ranked[:self.max_departments] or [self._fallback(departments)]
        result["questions"] = self.questions(f, {q for q, _ in query.answers})
        return result

    def _fallback(self, departments: DepartmentMap) -> dict[str, Any]:
        """Nothing understood: a best guess all the same, never an empty answer.

        全科医学科 when the hospital has one (a GP sees anything); otherwise the enquiry desk,
        which is not bookable, so it carries no department id."""
        rules = self.kb.rules
        target = departments.resolve(rules.fallback_department) if rules.fallback_department else None
        if target is not None:
            return {"department_id": target.id, "name": target.name, "score": 0.0, "fallback": True,
                    "reason": f"未能从描述中判断专科 → {target.name}（全科医生可先看诊再转专科）"}
        return {"department_id": None, "name": rules.fallback_desk, "score": 0.0, "fallback": True,
                "reason": f"未能从描述中判断科室 → 到院后请先到{rules.fallback_desk}咨询"}

    def _rank(self, f: Finding, scores: dict[str, float], contrib: dict[str, dict[str, float]],
              notes: dict[str, str], departments: DepartmentMap) -> list[dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for dept, score in scores.items():
            if score <= 0:
                continue
            target = departments.resolve(dept)
            if target is None:
                continue
            entry = merged.get(target.id)
            if entry is None or score > entry["raw"]:
                merged[target.id] = {"target": target, "raw": score, "kb": dept,
                                     "contrib": contrib.get(dept, {}), "note": notes.get(dept, "")}
        ordered = sorted(merged.values(), key=lambda e: -e["raw"])
        if not ordered:
            return []
        top = ordered[0]["raw"]
        total = sum(e["raw"] for e in ordered)
        out = []
        for e in ordered:
            if e["raw"] < top * self.kb.rules.min_share:
                break
            out.append({"department_id": e["target"].id, "name": e["target"].name,
                        "score": round(e["raw"] / total, 2),
                        "reason": self._reason(f, e["contrib"], e["target"].name, e["note"], e["kb"],
                                               e["target"].kb_name)})
        return out

    def _reason(self, f: Finding, contrib: dict[str, float], name: str, note: str,
                kb_dept: str, resolved_kb: str) -> str:
        """"咳嗽、咳痰伴发热 → 呼吸内科": the main symptoms, then the accompanying ones."""
        kb = self.kb
        ranked = sorted(contrib, key=lambda s: (-contrib[s], f.order.index(s) if s in f.order else 99))
        if not ranked:       # a rule (pregnancy, children) brought it: name what was said
            ranked = [s for s in f.order if not kb.symptoms[s].vague]
        main = [s for s in ranked if not kb.symptoms[s].general][:3]
        extra = [s for s in ranked if kb.symptoms[s].general][:2]
        if not main:
            main, extra = extra[:1], extra[1:]
        words = "、".join(main) + ("伴" + "、".join(extra) if extra else "")
        if not words:
            words = "、".join(f.parts) or "所述情况"
        reason = f"{words} → {name}"
        if note:
            reason += f"（{note}）"
        if kb_dept != resolved_kb and resolved_kb:
            reason += f"（本院未单设{kb_dept}）"
        return reason
