"""Smart triage (智能导诊): from a patient's own words to the right department, red flags first.

    kb.py       the knowledge base's schema and cross-checks (data: config/triage/kb.json)
    matcher.py  longest-match dictionary matcher: negation, severity, pain/state composition
    engine.py   red flags, department scores, age/sex/pregnancy rules, reasons, questions
    mapping.py  knowledge-base departments onto the hospital's own department tree
    service.py  versions in MongoDB, hot reload, the admin edit, the public entry point
"""

from services.triage.engine import TriageQuery
from services.triage.service import KbOut, KbVersionOut, TriageConfig, TriageService

__all__ = ["KbOut", "KbVersionOut", "TriageConfig", "TriageQuery", "TriageService"]
