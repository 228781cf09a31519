"""From a patient's words to mentions: a longest-match dictionary matcher over the
knowledge base, with negation, severity, pain composition ("肚子…疼") and numbers.

Why a dictionary matcher and not jieba: what matters is recognising the knowledge base's
own terms ("嗓子疼", "喘不上气", "说话不清"), and a general segmenter splits exactly those
("嗓子/疼") unless every term is added to its dictionary anyway. Longest match over the
knowledge base's words does that directly, needs no 20 MB dictionary, no cache file and no
second of loading, and it takes tens of microseconds per query. Words that contain a
negation character but negate nothing ("不舒服", "无力", "睡不着", "没胃口") are terms of
their own, so longest match consumes them before the negation rule looks for 不/没/无.

Negation: a cue (不、没有、无、未、否认…) negates the next symptom of its clause when at most
`negation_gap` filler characters stand between, and keeps negating further symptoms joined by
coordinators (和、也、、、或): "没有咳嗽和发烧" negates both, "不发烧，咳嗽" and
"没有发烧但是咳嗽" negate only 发烧, "不发烧头疼" only 发烧. Punctuation and breakers
(但是、可是…) end a clause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.triage.kb import KnowledgeBase

PUNCTUATION = set("，。；！？,.;!?\n\r\t…：:（）()[]【】“”\"'")

# kind priority when one word is defined twice: the more specific meaning wins
_PRIORITY = {"symptom": 0, "state": 1, "neutral": 2, "part": 3, "pain": 4, "subject": 5, "neg": 6,
             "coord": 7, "breaker": 8}

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_NUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十]+)"
_TEMP = re.compile(r"(\d{2}(?:\.\d)?|[三四]十[一二三四五六七八九]?)\s*(?:度|℃|°C|°)([\d一二三四五六七八九])?")
_BP = re.compile(r"血压\D{0,4}(\d{2,3})|(\d{2,3})\s*/\s*\d{2,3}\s*(?:mmHg|毫米汞柱)?")
_YEARS = re.compile(_NUM + r"\s*周?岁(半)?")
_YOUNG = re.compile(_NUM + r"\s*(?:个)?多?(?:个)?(月|天|周|星期)")
# "宝宝8个月", "出生40天", "宝宝才一个多月" are ages; "孩子发烧两天" is a duration
_CHILD_BEFORE = re.compile(r"(宝宝|孩子|婴儿|小孩|出生|新生儿|儿子|女儿|闺女|宝)"
                           r"(才|刚|刚刚|已经|今年|现在|满|只有|刚满)?$")
_CHILD_AFTER = re.compile(r"^(大|的宝宝|的孩子|的婴儿|的小孩|宝宝|的娃|的新生儿)")


def cn_number(text: str) -> float | None:
    """'38.5' → 38.5, '两' → 2, '十二' → 12, '三十' → 30 (enough for ages and days)."""
    try:
        return float(text)
    except ValueError:
        pass
    if not text or any(c not in _CN_DIGITS and c != "十" for c in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        return float((_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0))
    value = 0
    for c in text:
        value = value * 10 + _CN_DIGITS[c]
    return float(value)


@dataclass(slots=True)
class Token:
    kind: str
    start: int
    end: int
    name: str = ""          # symptom / body part / subject name
    negated: bool = False


@dataclass(slots=True)
class Mention:
    symptom: str
    start: int
    end: int
    negated: bool
    modifiers: frozenset[str] = frozenset()
    source: str = "text"


@dataclass
class Analysis:
    mentions: list[Mention] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)          # body parts named and not negated
    age: float | None = None                                # from "3岁", "两个月的宝宝", 新生儿
    child: bool | None = None                               # from 宝宝/孩子 (True), 我妈 (False)
    sex: str | None = None


class Matcher:
    """Compiled once per knowledge base version; `analyze` is pure and thread-safe."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        terms: dict[str, tuple[str, str]] = {}

        def add(word: str, kind: str, name: str = "") -> None:
            word = word.strip()
            if not word:
                return
            old = terms.get(word)
            if old is None or _PRIORITY[kind] < _PRIORITY[old[0]]:
                terms[word] = (kind, name)

        for name, s in kb.symptoms.items():
            for w in (name, *s.synonyms):      # the canonical name is a word too (tapped chips)
                add(w, "symptom", name)
        for w in kb.neutral:
            add(w, "neutral")
        for name, p in kb.body_parts.items():
            for w in p.synonyms:
                add(w, "part", name)
            for w in p.states:
                add(w, "state", w)
        for w in kb.unattached:
            add(w, "state", w)
        for w in kb.pain_words:
            add(w, "pain")
        for name, subj in kb.subjects.items():
            for w in subj.words:
                add(w, "subject", name)
        for w in kb.negations:
            add(w, "neg")
        for w in kb.coordinators:
            add(w, "coord")
        for w in kb.breakers:
            add(w, "breaker")
        self.index: dict[str, list[tuple[str, str, str]]] = {}
        for word, (kind, name) in terms.items():
            self.index.setdefault(word[0], []).append((word, kind, name))
        for bucket in self.index.values():
            bucket.sort(key=lambda t: -len(t[0]))
        self.modifier_words = [(m, w) for m, mod in kb.modifiers.items() for w in mod.words]
        self.patterns = [(re.compile(p.regex), p.symptom) for p in kb.patterns]

    def tokenize(self, text: str) -> list[Token]:
        """Longest match at every position; unmatched characters are fillers (not tokens)."""
        tokens: list[Token] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch in PUNCTUATION:
                tokens.append(Token("breaker", i, i + 1))
                i += 1
                continue
            for word, kind, name in self.index.get(ch, ()):
                if text.startswith(word, i):
                    tokens.append(Token(kind, i, i + len(word), name))
                    i += len(word)
                    break
            else:
                i += 1
        return tokens

    def _negate(self, tokens: list[Token]) -> None:
        gap_limit = self.kb.rules.negation_gap
        active = False
        after_symptom = False
        joined = False
        last_end = 0
        for tok in tokens:
            gap = tok.start - last_end
            if tok.kind == "breaker":
                active = False
            elif tok.kind == "neg":
                active, after_symptom, joined = True, False, False
            elif tok.kind == "coord":
                joined = True
            elif tok.kind in ("symptom", "pain", "state", "part"):
                too_far = not after_symptom and gap > gap_limit            # "没有…（很多字）…咳嗽"
                unjoined = after_symptom and not joined and tok.kind not in ("pain", "state")
                if active and (too_far or unjoined):                       # "不发烧头疼"
                    active = False
                if active:
                    tok.negated = True
                    if tok.kind != "part":      # "没有肚子疼": the part does not end the reach
                        after_symptom, joined = True, False
            last_end = tok.end

    def analyze(self, text: str) -> Analysis:
        """Mentions of symptoms (negated or not, with modifiers), body parts, who is ill."""
        kb = self.kb
        tokens = self.tokenize(text)
        self._negate(tokens)
        result = Analysis()
        clauses = _clauses(text, tokens)
        everywhere = {m for m, w in self.modifier_words if kb.modifiers[m].scope == "text" and w in text}
        modifiers_of: dict[int, frozenset[str]] = {}
        for index, (start, end) in enumerate(clauses):
            clause = text[start:end]
            modifiers_of[index] = frozenset(everywhere | {m for m, w in self.modifier_words if w in clause})

        def clause_of(pos: int) -> int:
            for index, (start, end) in enumerate(clauses):
                if start <= pos < end:
                    return index
            return len(clauses) - 1

        parts_seen: list[Token] = []
        for tok in tokens:
            if tok.kind == "symptom":
                result.mentions.append(Mention(tok.name, tok.start, tok.end, tok.negated,
                                               modifiers_of.get(clause_of(tok.start), frozenset())))
            elif tok.kind == "part":
                parts_seen.append(tok)
                if not tok.negated and tok.name not in result.parts:
                    result.parts.append(tok.name)
            elif tok.kind in ("pain", "state"):
                part = self._part_for(tok, parts_seen, clause_of)
                if part is not None:
                    body = kb.body_parts[part.name]
                    symptom = body.pain if tok.kind == "pain" else body.states[tok.name]
                    between = any(t.kind == "neg" for t in tokens if part.end <= t.start < tok.start)
                    result.mentions.append(Mention(
                        symptom or "", part.start, tok.end, part.negated or tok.negated or between,
                        modifiers_of.get(clause_of(tok.start), frozenset())))
                elif tok.kind == "state" and tok.name in kb.unattached:
                    result.mentions.append(Mention(kb.unattached[tok.name], tok.start, tok.end, tok.negated,
                                                   modifiers_of.get(clause_of(tok.start), frozenset())))
            elif tok.kind == "subject" and not tok.negated:
                subject = kb.subjects[tok.name]
                if result.child is None and subject.child is not None:
                    result.child = subject.child
                if result.age is None and subject.age is not None:
                    result.age = subject.age
                if result.sex is None and subject.sex is not None:
                    result.sex = subject.sex
        for regex, symptom in self.patterns:
            for m in regex.finditer(text):
                result.mentions.append(Mention(symptom, m.start(), m.end(), _negated_at(tokens, m.start()),
                                               modifiers_of.get(clause_of(m.start()), frozenset()),
                                               source="pattern"))
        self._numbers(text, result)
        return result

    def _part_for(self, tok: Token, parts_seen: list[Token], clause_of) -> Token | None:
        """The nearest body part before this pain/state word that composes with it, in the
        same clause and within `pain_gap` characters."""
        clause = clause_of(tok.start)
        for part in reversed(parts_seen):
            if clause_of(part.start) != clause or tok.start - part.end > self.kb.rules.pain_gap:
                return None
            body = self.kb.body_parts[part.name]
            if (body.pain if tok.kind == "pain" else tok.name in body.states):
                return part
        return None

    def _numbers(self, text: str, result: Analysis) -> None:
        rules = self.kb.rules
        for m in _TEMP.finditer(text):
            whole, tenth = cn_number(m.group(1)), cn_number(m.group(2)) if m.group(2) else 0.0
            if whole is None or tenth is None:
                continue
            value = whole + tenth / 10
            if not 35 <= value <= 43:
                continue
            for name, at in ((rules.high_fever_symptom, rules.high_fever_at),
                             (rules.fever_symptom, rules.fever_at)):
                if name and value >= at:
                    result.mentions.append(Mention(name, m.start(), m.end(), False, source="number"))
                    break
        for m in _BP.finditer(text):
            value = int(m.group(1) or m.group(2))
            if rules.high_bp_symptom and rules.high_bp_at <= value <= 300:
                result.mentions.append(Mention(rules.high_bp_symptom, m.start(), m.end(), False,
                                               source="number"))
        for m in _YEARS.finditer(text):
            value = cn_number(m.group(1))
            if value is not None and value <= 120:
                result.age = value + (0.5 if m.group(2) else 0)
                return
        for m in _YOUNG.finditer(text):
            before, after = text[max(0, m.start() - 8):m.start()], text[m.end():m.end() + 4]
            if "孕" in before or not (_CHILD_BEFORE.search(before) or _CHILD_AFTER.match(after)):
                continue
            value = cn_number(m.group(1))
            if value is None:
                continue
            unit = m.group(2)
            days = value * {"月": 30.4, "天": 1, "周": 7, "星期": 7}[unit]
            result.age = round(days / 365.25, 3)
            result.child = True
            return


def _negated_at(tokens: list[Token], start: int) -> bool:
    """Whether a pattern match starting at `start` directly follows a negation cue in its
    clause (only fillers between): "没有吐血" but not "吐了血，没有发烧"."""
    for tok in reversed(tokens):
        if tok.start >= start:
            continue
        return tok.kind == "neg"
    return False


def _clauses(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    """Spans of text between punctuation/breaker words."""
    spans, start = [], 0
    for tok in tokens:
        if tok.kind == "breaker":
            if tok.start > start:
                spans.append((start, tok.start))
            start = tok.end
    spans.append((start, max(start, len(text))))
    return spans
