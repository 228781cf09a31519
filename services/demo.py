"""The demo hospital group: two campuses, a department tree, doctors, a week of schedules.

`seed_demo` is idempotent: every record is upserted by its stable code, so running it
twice (or on yesterday's data) changes nothing. Names are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.catalogue import CatalogueService
from services.clock import Clock, at_local, format_local, local_date
from services.registration.base import schedule_oid

CAMPUSES = [
    ("main", "总院", "杭州市上城区解放路 88 号", "0571-87000000", True),
    ("east", "东院区（分院）", "杭州市钱塘区学林街 16 号", "0571-86000000", False),
]

# (code, name, parent code or None, campuses, intro)
DEPARTMENTS = [
    ("IM", "内科", None, ["main", "east"], "内科系统疾病的诊断与治疗"),
    ("IM-RESP", "呼吸内科", "IM", ["main", "east"], "咳嗽、咳痰、气喘、肺部感染、慢阻肺、哮喘"),
    ("IM-CARD", "心血管内科", "IM", ["main", "east"], "胸闷胸痛、心悸、高血压、冠心病"),
    ("IM-GI", "消化内科", "IM", ["main", "east"], "腹痛、腹泻、胃胀反酸、肝胆胰疾病"),
    ("IM-NEURO", "神经内科", "IM", ["main"], "头痛头晕、肢体麻木无力、睡眠障碍"),
    ("IM-ENDO", "内分泌科", "IM", ["main"], "糖尿病、甲状腺疾病、骨质疏松"),
    ("SURG", "外科", None, ["main", "east"], "外科疾病的诊断与手术治疗"),
    ("SURG-GEN", "普外科", "SURG", ["main", "east"], "阑尾炎、疝气、胆囊结石、甲状腺结节"),
    ("SURG-ORTH", "骨科", "SURG", ["main", "east"], "骨折、关节痛、腰腿痛、运动损伤"),
    ("SURG-URO", "泌尿外科", "SURG", ["main"], "尿频尿急、泌尿系结石、前列腺疾病"),
    ("WC", "妇儿中心", None, ["main"], "妇女儿童疾病诊疗"),
    ("WC-PED", "儿科", "WC", ["main"], "14 岁以下儿童常见病：发热、咳嗽、腹泻"),
    ("WC-GYN", "妇科", "WC", ["main"], "月经不调、妇科炎症、妇科肿瘤"),
    ("WC-OB", "产科", "WC", ["main"], "产前检查、孕期保健"),
    ("SPEC", "专科", None, ["main", "east"], "五官、皮肤等专科"),
    ("SPEC-ENT", "耳鼻咽喉科", "SPEC", ["main", "east"], "咽痛、鼻塞、耳鸣、听力下降"),
    ("SPEC-OPH", "眼科", "SPEC", ["main"], "视力下降、眼红眼痛、白内障"),
    ("SPEC-DERM", "皮肤科", "SPEC", ["main", "east"], "皮疹、瘙痒、湿疹、痤疮"),
    ("SPEC-STOMA", "口腔科", "SPEC", ["main"], "牙痛、牙龈出血、口腔溃疡"),
    ("SPEC-ANDRO", "男科", "SPEC", ["main"], "男性生殖健康"),
    ("SPEC-PSY", "精神心理科", "SPEC", ["main"], "焦虑、抑郁、失眠"),
    ("TCM", "中医科", None, ["main", "east"], "中医内科、针灸推拿、膏方调理"),
    ("TCM-IM", "中医内科", "TCM", ["main", "east"], "中医辨证调理、慢性病调养"),
    ("TCM-ACU", "针灸推拿科", "TCM", ["main"], "颈肩腰腿痛、面瘫、针灸推拿"),
    ("ER", "急诊科", None, ["main", "east"], "24 小时急危重症救治"),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = ["建国", "晓燕", "志强", "丽华", "海峰", "静怡", "文博", "秀英", "立新", "雅琴",
         "伟", "敏", "明辉", "红梅", "俊杰", "婷", "国平", "淑珍", "宏伟", "慧"]
TITLES = [("主任医师", "expert"), ("副主任医师", "expert"), ("主治医师", "general"),
          ("住院医师", "general")]

# Period name → (start, end) wall-clock times in Asia/Shanghai.
PERIODS = {"morning": (time(8, 0), time(11, 30)), "afternoon": (time(13, 30), time(17, 0)),
           "evening": (time(18, 0), time(20, 0))}
# Departments that also hold an evening clinic (晚间门诊) on weekdays.
EVENING_DEPARTMENTS = {"IM-RESP", "SPEC-DERM", "WC-PED"}
FEES = {"general": 1200, "expert": 3000, "special": 10000}


@dataclass(frozen=True)
class DemoDoctor:
    code: str
    name: str
    title: str
    schedule_type: str
    department_code: str
    campus_code: str


def demo_doctors() -> list[DemoDoctor]:
    """Two doctors for each clinical sub-department (and the ER), deterministic."""
    doctors = []
    n = 0
    for code, _name, parent, campuses, _intro in DEPARTMENTS:
        if parent is None and code != "ER":
            continue
        for i in range(2):
            surname = SURNAMES[n % len(SURNAMES)]
            given = GIVEN[(n * 7) % len(GIVEN)]
            title, schedule_type = TITLES[(n + i) % len(TITLES)]
            doctors.append(DemoDoctor(f"D{n + 1:03d}", surname + given, title, schedule_type,
                                      code, campuses[i % len(campuses)]))
            n += 1
    return doctors


async def seed_demo(db: AsyncDatabase, catalogue: CatalogueService, clock: Clock,
                    days: int = 7) -> dict[str, int]:
    """Upsert the demo group and schedules for today and the next `days` days."""
    for order, (code, name, address, phone, is_main) in enumerate(CAMPUSES):
        await catalogue.upsert_campus(code, name=name, address=address, phone=phone,
                                      is_main=is_main, order=order)
    dept_ids: dict[str, Any] = {}
    for order, (code, name, parent, campuses, intro) in enumerate(DEPARTMENTS):
        dept_ids[code] = await catalogue.upsert_department(
            code, name=name, parent_id=dept_ids.get(parent) if parent else None,
            campus_codes=campuses, intro=intro, order=order, active=True)
    doctors = demo_doctors()
    doctor_ids = {}
    for order, d in enumerate(doctors):
        doctor_ids[d.code] = await catalogue.upsert_doctor(
            d.code, name=d.name, title=d.title,
            specialty=next(x[4] for x in DEPARTMENTS if x[0] == d.department_code),
            intro=f"{d.title}，从事临床工作多年，擅长本科室常见病、多发病的诊治。",
            photo_url="", department_id=dept_ids[d.department_code], campus_code=d.campus_code,
            order=order, active=True)
    schedules = await _seed_schedules(db, doctors, doctor_ids, dept_ids, clock, days)
    return {"campuses": len(CAMPUSES), "departments": len(DEPARTMENTS),
            "doctors": len(doctors), "schedules": schedules}


async def _seed_schedules(db: AsyncDatabase, doctors: list[DemoDoctor], doctor_ids: dict,
                          dept_ids: dict, clock: Clock, days: int) -> int:
    """Half-hour slots, capacity 5 (experts 3, 特需 2), one or two periods per doctor per day.

    Documents follow services/registration/base.py (schedules with denormalised doctor
    and department names, clinic id, room, and their slots embedded).
    """
    today = local_date(clock.now())
    have_schedules = {d["his_id"] async for d in db["schedules"].find({}, {"his_id": 1})}
    dept_names = {code: name for code, name, *_ in DEPARTMENTS}
    schedules = []
    total = 0
    for offset in range(days + 1):
        day: date = today + timedelta(days=offset)
        for index, d in enumerate(doctors):
            # Each doctor works 2 periods out of the 14 of a week, spread over the days.
            periods = [p for j, p in enumerate(("morning", "afternoon"))
                       if (index + offset + j) % 3 != 0]
            if d.department_code in EVENING_DEPARTMENTS and index % 2 == 0 and day.weekday() < 5:
                periods.append("evening")
            for period in periods:
                total += 1
                his_id = f"DEMO-{d.code}-{day.isoformat()}-{period}"
                schedule_id = schedule_oid(his_id)
                start_t, end_t = PERIODS[period]
                # 主任医师 hold a 特需 clinic on Saturday mornings
                kind = "special" if (d.title == "主任医师" and day.weekday() == 5
                                     and period == "morning") else d.schedule_type
                if his_id in have_schedules:
                    continue
                capacity = {"expert": 3, "general": 5, "special": 2}[kind]
                slots, slot_start, end = [], at_local(day, start_t), at_local(day, end_t)
                while slot_start < end:
                    slot_end = min(slot_start + timedelta(minutes=30), end)
                    slots.append({"seq": len(slots) + 1, "key": format_local(slot_start, "%H:%M"),
                                  "start": slot_start, "end": slot_end, "capacity": capacity,
                                  "remaining": capacity, "issued": 0})
                    slot_start = slot_end
                schedules.append({
                    "_id": schedule_id, "his_id": his_id, "doctor_id": doctor_ids[d.code],
                    "doctor_name": d.name, "doctor_title": d.title,
                    "department_id": dept_ids[d.department_code],
                    "department_code": d.department_code,
                    "department_name": dept_names[d.department_code],
                    "campus_code": d.campus_code,
                    "clinic_id": f"{d.campus_code}-{d.department_code}",
                    "room": f"{dept_names[d.department_code]}诊区 {index % 9 + 1} 诊室",
                    "date": day.isoformat(), "period": period, "type": kind,
                    "fee_fen": FEES[kind], "status": "open",
                    "release_at": at_local(day - timedelta(days=7), time(7, 0)),
                    "created_at": clock.now(), "updated_at": clock.now(), "slots": slots,
                })
    for i in range(0, len(schedules), 200):
        await db["schedules"].insert_many(schedules[i:i + 200], ordered=False)
    return total
