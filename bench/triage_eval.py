"""Evaluate the triage engine on a labelled JSONL file.

    python bench/triage_eval.py bench/data/triage_cases.jsonl [--kb config/triage/kb.json] [-v]

Each line: {"text", "department", "age"?, "sex"?, "pregnant"?, "emergency"?}; `department`
is the demo hospital's department name (services/demo.py), the tree the engine maps onto.
Prints top-1 / top-3 accuracy, per-department recall, the most frequent confusions and the
red-flag recall on cases marked emergency (plus the false-alarm rate on the others).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.demo import DEPARTMENTS
from services.triage.engine import Engine, TriageQuery
from services.triage.kb import load_kb_file
from services.triage.mapping import DepartmentMap

DEFAULT_KB = ROOT / "config" / "triage" / "kb.json"


def demo_department_docs() -> list[dict]:
    """The demo hospital's department tree as catalogue documents (no database needed)."""
    return [{"_id": code, "name": name, "parent_id": parent, "order": i}
            for i, (code, name, parent, _campuses, _intro) in enumerate(DEPARTMENTS)]


@dataclass
class Report:
    total: int = 0
    top1: int = 0
    top3: int = 0
    emergency_cases: int = 0
    emergency_caught: int = 0
    false_alarms: int = 0
    empty: int = 0                      # no department at all (must stay 0)
    fallback: int = 0                   # only the 全科医学科 / 导诊台 fallback: nothing understood
    per_department: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    confusions: Counter = field(default_factory=Counter)
    failures: list[tuple[dict, list[str], bool]] = field(default_factory=list)

    @property
    def top1_accuracy(self) -> float:
        return self.top1 / self.total if self.total else 0.0

    @property
    def top3_accuracy(self) -> float:
        return self.top3 / self.total if self.total else 0.0

    @property
    def macro_top1(self) -> float:
        """Mean of per-department top-1 recall, so a big department cannot hide a small one."""
        stats = list(self.per_department.values())
        return sum(hit / n for hit, n in stats) / len(stats) if stats else 0.0

    @property
    def red_flag_recall(self) -> float:
        return self.emergency_caught / self.emergency_cases if self.emergency_cases else 1.0

    @property
    def false_alarm_rate(self) -> float:
        ordinary = self.total - self.emergency_cases
        return self.false_alarms / ordinary if ordinary else 0.0


def load_cases(path: Path) -> list[dict]:
    cases = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                case = json.loads(line)
                if "text" not in case or "department" not in case:
                    raise ValueError(f"{path}:{number}: needs text and department")
                cases.append(case)
    return cases


def evaluate(cases: list[dict], kb_path: Path = DEFAULT_KB) -> Report:
    """Run every case through the engine against the demo hospital's tree."""
    kb, _raw = load_kb_file(kb_path)
    engine = Engine(kb)
    departments = DepartmentMap(kb, demo_department_docs())
    report = Report()
    for case in cases:
        query = TriageQuery(text=case["text"], age=case.get("age"), sex=case.get("sex"),
                            pregnant=case.get("pregnant"))
        result = engine.triage(query, departments)
        names = [d["name"] for d in result["departments"]]
        label = case["department"]
        report.total += 1
        report.empty += not names
        report.fallback += bool(result["departments"]) and all(
            d.get("fallback") for d in result["departments"])
        stats = report.per_department[label]
        stats[1] += 1
        hit1 = bool(names) and names[0] == label
        if hit1:
            report.top1 += 1
            stats[0] += 1
        else:
            report.confusions[(label, names[0] if names else "（无推荐）")] += 1
        if label in names[:3]:
            report.top3 += 1
        if case.get("emergency"):
            report.emergency_cases += 1
            report.emergency_caught += bool(result["emergency"])
        elif result["emergency"]:
            report.false_alarms += 1
        if not hit1 or bool(case.get("emergency")) != result["emergency"]:
            report.failures.append((case, names, result["emergency"]))
    return report


def print_report(report: Report, verbose: bool = False) -> None:
    print(f"cases                 {report.total}")
    print(f"top-1 accuracy        {report.top1_accuracy:.3f}  ({report.top1}/{report.total})")
    print(f"top-3 accuracy        {report.top3_accuracy:.3f}  ({report.top3}/{report.total})")
    print(f"macro top-1           {report.macro_top1:.3f}  (mean per-department recall)")
    print(f"empty answers         {report.empty}  fallback only (全科/导诊台) {report.fallback}")
    print(f"red-flag recall       {report.red_flag_recall:.3f}  "
          f"({report.emergency_caught}/{report.emergency_cases})")
    print(f"false-alarm rate      {report.false_alarm_rate:.3f}  "
          f"({report.false_alarms}/{report.total - report.emergency_cases})")
    print("\nper-department recall (top-1)")
    for label, (hit, n) in sorted(report.per_department.items(), key=lambda kv: kv[1][0] / kv[1][1]):
        print(f"  {label:<8}\t{hit / n:.2f}  ({hit}/{n})")
    print("\nmost frequent confusions (expected → top-1)")
    for (label, got), n in report.confusions.most_common(12):
        print(f"  {label} → {got}: {n}")
    if verbose:
        print("\nfailures")
        for case, names, emergency in report.failures:
            flag = " [急]" if emergency else ""
            print(f"  {case['department']}{' (急)' if case.get('emergency') else ''}  "
                  f"{case['text']!r} age={case.get('age')} sex={case.get('sex')} → {names}{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--kb", type=Path, default=DEFAULT_KB)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    report = evaluate(load_cases(args.file), args.kb)
    print_report(report, args.verbose)
    print("BENCH " + json.dumps({
        "scenario": "triage_eval", "name": args.file.stem, "count": report.total,
        "top1": round(report.top1_accuracy, 3), "top3": round(report.top3_accuracy, 3),
        "macro_top1": round(report.macro_top1, 3),
        "empty_rate": round(report.empty / report.total, 3) if report.total else 0.0,
        "fallback_rate": round(report.fallback / report.total, 3) if report.total else 0.0,
        "red_flag_recall": round(report.red_flag_recall, 3),
        "false_alarm_rate": round(report.false_alarm_rate, 3)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
