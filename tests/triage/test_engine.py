"""The triage engine on the shipped knowledge base, without the app: words → departments."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench.triage_eval import demo_department_docs, evaluate, load_cases
from services.errors import InvalidRequest
from services.triage.engine import Engine, TriageQuery
from services.triage.kb import load_kb_file, validate_kb
from services.triage.mapping import DepartmentMap

ROOT = Path(__file__).resolve().parents[2]
KB_FILE = ROOT / "config" / "triage" / "kb.json"
KB, RAW = load_kb_file(KB_FILE)
ENGINE = Engine(KB)
DEMO = DepartmentMap(KB, demo_department_docs())


def run(text: str = "", tree: DepartmentMap = DEMO, **kw) -> dict:
    answers = tuple(kw.pop("answers", {}).items())
    return ENGINE.triage(TriageQuery(text=text, answers=answers, **kw), tree)


def names(text: str = "", **kw) -> list[str]:
    return [d["name"] for d in run(text, **kw)["departments"]]


def found(text: str) -> tuple[set[str], set[str]]:
    f = ENGINE.understand(TriageQuery(text=text))
    return set(f.present), set(f.negated)


# -- negation ------------------------------------------------------------------------
@pytest.mark.parametrize("text, negated", [
    ("不发烧", {"发热"}), ("没有咳嗽", {"咳嗽"}), ("无胸痛", {"胸痛"}), ("不咳", {"咳嗽"}),
    ("否认胸闷", {"胸闷"}), ("没有咳嗽和发烧", {"咳嗽", "发热"}), ("无胸痛、气促", {"胸痛", "气喘"}),
    ("不咳嗽也不发烧", {"咳嗽", "发热"}), ("肚子不疼", {"腹痛"}), ("没有明显咳嗽", {"咳嗽"}),
])
def test_negated_symptoms_are_recognised_and_do_not_count(text, negated):
    present, denied = found(text)
    assert denied == negated and not present & negated


@pytest.mark.parametrize("text, present, negated", [
    ("不发烧，咳嗽", {"咳嗽"}, {"发热"}),
    ("没有发烧但是咳嗽", {"咳嗽"}, {"发热"}),
    ("不发烧头疼", {"头痛"}, {"发热"}),
    ("胸闷，没有胸痛，也不出汗", {"胸闷"}, {"胸痛", "出汗"}),
    ("咳嗽，也没有发烧", {"咳嗽"}, {"发热"}),
])
def test_a_negation_reaches_only_its_own_symptoms(text, present, negated):
    assert found(text) == (present, negated)


@pytest.mark.parametrize("text, symptom", [
    ("胃不舒服", "胃痛"), ("睡不着", "失眠"), ("没胃口", "食欲不振"), ("高烧不退", "高热"),
    ("说话不清", "言语不清"), ("全身无力", "乏力"), ("头从来没这么疼过", "头痛"), ("拉不出大便", "便秘"),
    ("不想活了", "自杀念头"),
])
def test_words_containing_bu_mei_wu_are_symptoms_not_negations(text, symptom):
    present, denied = found(text)
    assert symptom in present and not denied


# -- synonyms, composition, numbers ---------------------------------------------------
@pytest.mark.parametrize("text, symptom", [
    ("拉肚子", "腹泻"), ("拉稀", "腹泻"), ("嗓子疼", "咽痛"), ("喉咙痛", "咽痛"), ("心口疼", "胸痛"),
    ("喘不上气", "呼吸困难"), ("肚子有点疼", "腹痛"), ("胸口像压了块石头", "胸痛"), ("嘴唇都紫了", "紫绀"),
    ("尿有点红", "血尿"), ("大便不成形", "腹泻"), ("血一直往外冒", "大出血"), ("烧到38度5", "发热"),
])
def test_colloquial_words_map_to_the_symptom(text, symptom):
    assert symptom in found(text)[0]


@pytest.mark.parametrize("text, symptom", [
    ("吐了一大盆血", "呕血"), ("吃了一把安眠药", "中毒"), ("突然筷子掉了", "一侧肢体无力"),
    ("心里扑通扑通的", "心悸"), ("一天喝好几壶水", "口渴多饮"), ("耳朵里面痒痒的", "耳部不适"),
    ("很痒", "皮肤瘙痒"), ("吐痰带血", "咯血"), ("说话也含糊了", "言语不清"),
])
def test_patterns_and_states_catch_what_single_words_miss(text, symptom):
    assert symptom in found(text)[0]


def test_patterns_do_not_overreach():
    assert "中毒" not in found("吃了好多止咳药都不管用")[0]
    assert "呕血" not in found("吐痰带血")[0]
    assert found("没有吐血") == (set(), {"呕血"})


def test_symptoms_that_belong_together_point_at_their_department():
    assert names("腰这边突然疼得满床打滚，尿里带血", age=42, sex="male")[0] == "泌尿外科"
    assert names("腰疼", age=42)[0] == "骨科"


def test_temperatures_and_blood_pressure_are_read_from_numbers():
    assert {"发热", "高热"} <= found("体温39.5℃")[0]
    assert "高热" not in found("体温38度")[0] and "发热" in found("体温38度")[0]
    assert "血压极高" in found("血压200")[0]
    assert "血压极高" not in found("量血压160")[0]
    assert "发热" in found("体温三十八度二")[0] and "高热" in found("烧到四十度")[0]


@pytest.mark.parametrize("text, age", [
    ("3岁宝宝发烧", 3), ("宝宝一岁半，咳嗽", 1.5), ("两个月的宝宝咳嗽", 0.166), ("宝宝出生40天", 0.109),
    ("孩子发烧两天", None), ("怀孕5个月", None), ("咳嗽两周", None),
])
def test_ages_are_read_from_words_but_durations_are_not_ages(text, age):
    f = ENGINE.understand(TriageQuery(text=text))
    assert (f.age is None) if age is None else f.age == pytest.approx(age, abs=0.01)


# -- age, sex and pregnancy rules -----------------------------------------------------
def test_children_under_fourteen_go_to_paediatrics_for_medical_complaints():
    assert names("咳嗽发烧", age=5)[0] == "儿科"
    assert names("咳嗽发烧", age=13.9)[0] == "儿科"
    assert names("咳嗽发烧", age=14)[0] == "呼吸内科"
    assert names("孩子拉肚子")[0] == "儿科"
    assert "儿科" not in names("咳嗽发烧", age=40)


def test_children_keep_surgical_eye_and_dental_departments():
    assert names("打篮球手腕扭伤了", age=12)[0] == "骨科"
    assert names("蛀牙了", age=8)[0] == "口腔科"
    assert names("看黑板看不清", age=10)[0] == "眼科"


def test_gynaecology_and_obstetrics_are_for_women_only_andrology_for_men_only():
    for text in ("下腹坠痛", "白带多", "阴道出血", "怀孕了想产检"):
        assert not {"妇科", "产科"} & set(names(text, sex="male", age=30)), text
    for text in ("阳痿早泄", "前列腺炎", "包皮过长"):
        assert "男科" not in names(text, sex="female", age=30), text
    assert names("阳痿早泄", sex="male", age=30)[0] == "男科"
    assert names("白带多有异味")[0] == "妇科"          # the words themselves say female


def test_pregnancy_from_the_words_or_the_field_sends_women_to_obstetrics():
    assert names("怀孕了，肚子隐隐作痛")[0] == "产科"
    assert names("肚子隐隐作痛", sex="female", age=28, pregnant=True)[0] == "产科"
    assert names("停经两个月了，没有怀孕", sex="female")[0] == "妇科"
    assert names("阴道出血", sex="female", age=28)[0] == "妇科"


def test_pregnancy_with_severe_abdominal_pain_or_bleeding_is_an_emergency():
    assert run("肚子疼得厉害", sex="female", pregnant=True)["emergency"] is True
    assert run("怀孕30周，阴道出血")["emergency"] is True
    assert run("肚子疼得厉害", sex="female", pregnant=False)["emergency"] is False
    assert run("痛经很厉害", sex="female", age=25)["emergency"] is False


# -- red flags ------------------------------------------------------------------------
@pytest.mark.parametrize("text, kw, code", [
    ("胸口压着疼，出冷汗", {}, "chest_pain"),
    ("胸痛，喘不上气", {}, "chest_pain"),
    ("突然嘴歪了", {}, "stroke"), ("一侧肢体无力", {}, "stroke"), ("说话不清", {}, "stroke"),
    ("大出血止不住", {}, "heavy_bleeding"),
    ("发烧38度", {"age": 0.2}, "infant_fever"), ("两个月的宝宝发烧", {}, "infant_fever"),
    ("想自杀", {}, "suicide"), ("活着没意思", {}, "suicide"),
    ("突然剧烈头痛", {}, "thunderclap"), ("头从来没这么疼过，突然发作的", {}, "thunderclap"),
    ("胸口剧痛", {}, "severe_chest_pain"), ("我奶奶突然一只手抬不起来", {}, "stroke"),
    ("吃了花生以后嗓子肿起来喘不上气", {}, "airway"), ("被蛇咬了", {}, "venom"),
    ("孩子高烧抽搐", {"age": 3}, "child_seizure"), ("大便全是血", {}, "heavy_bleeding"),
    ("吐了好多血", {}, "hematemesis"), ("喝了农药", {}, "poisoning"), ("叫不醒", {}, "unconscious"),
])
def test_red_flags_raise_an_emergency_with_advice_to_call_120(text, kw, code):
    result = run(text, **kw)
    assert result["emergency"] is True
    assert code in [f["code"] for f in result["red_flags"]]
    assert "120" in result["advice"]
    assert result["departments"][0]["name"] == "急诊科"
    assert result["departments"][0]["reason"].endswith("→ 急诊科")
    assert result["questions"] == []


@pytest.mark.parametrize("text, kw", [
    ("胸闷，没有胸痛，也不出汗", {}), ("面瘫恢复期想扎针灸", {}), ("肛裂，大便的时候撕裂痛", {}),
    ("没有想自杀，就是心情不好", {}), ("发烧38度", {"age": 0.5}), ("头痛", {}),
    ("没有口角歪斜，说话也清楚", {}), ("经常流鼻血", {}), ("大便发黑", {}),
    ("小孩换牙，新牙长歪了", {}), ("头从来没这么疼过", {}), ("抽搐过一次，以前有癫痫", {"age": 30}),
    ("嗓子肿，咽口水疼", {}),
])
def test_look_alikes_and_negated_red_flags_are_not_emergencies(text, kw):
    assert run(text, **kw)["emergency"] is False


def test_a_fever_without_an_age_is_not_treated_as_an_infants():
    assert run("发烧38度")["emergency"] is False


# -- follow-up questions ----------------------------------------------------------------
def test_vague_words_get_at_most_two_tap_questions_and_answers_stop_them():
    first = run("头疼")
    assert [q["id"] for q in first["questions"]] == ["fever", "head_injury"]
    assert all(len(q["options"]) >= 2 for q in first["questions"])
    assert run("头疼", answers={"fever": "yes", "head_injury": "no"})["questions"] == []
    assert run("头疼，不发烧")["questions"][0]["id"] == "head_injury"   # fever already said
    assert run("咳嗽咳痰，发烧三天")["questions"] == []                  # specific enough


def test_nothing_recognisable_asks_where_and_the_body_part_answer_starts_triage():
    first = run("不舒服")
    assert first["questions"][0]["id"] == "where"
    # still a best guess: the demo hospital has no 全科医学科, so the enquiry desk
    assert [(d["name"], d["department_id"], d["fallback"]) for d in first["departments"]] == [
        ("导诊台", None, True)]
    second = run("不舒服", answers={"where": "咽喉"})
    assert second["departments"][0]["name"] == "耳鼻咽喉科"


def test_a_headache_after_a_head_injury_points_at_surgery():
    assert names("头疼", answers={"head_injury": "yes"})[0] == "外科"   # 神经外科 → 外科 here


# -- the hospital's own department tree ------------------------------------------------
def tree(*rows: tuple[str, str, str | None]) -> DepartmentMap:
    return DepartmentMap(KB, [{"_id": code, "name": name, "parent_id": parent, "order": i}
                              for i, (code, name, parent) in enumerate(rows)])


def test_names_and_aliases_map_onto_the_hospitals_own_departments():
    small = tree(("IM", "大内科", None), ("CARD", "心内科", "IM"), ("SURG", "外科", None),
                 ("ER", "急诊医学科", None), ("OG", "妇产科", None))
    assert names("心慌心跳快", tree=small)[0] == "心内科"
    assert names("咳嗽咳痰", tree=small)[0] == "大内科"                 # 呼吸内科 → 内科 (alias 大内科)
    assert names("乳房有肿块", tree=small)[0] == "外科"                 # 乳腺外科 → 普外科 → 外科
    assert names("月经不调", tree=small, sex="female")[0] == "妇产科"   # 妇科 → 妇产科
    chest = run("胸口疼，出冷汗", tree=small)
    assert chest["departments"][0]["name"] == "急诊医学科"              # 胸痛中心 → 急诊科 (alias)
    assert "本院未单设乳腺外科" in run("乳房有肿块", tree=small)["departments"][0]["reason"]


def test_words_not_understood_go_to_general_practice_where_the_hospital_has_it():
    with_gp = tree(("IM", "内科", None), ("GP", "全科医疗科", None))     # 《诊疗科目名录》 name, an alias
    pick, = run("说不好哪里怪怪的", tree=with_gp)["departments"]
    assert (pick["department_id"], pick["name"], pick["fallback"]) == ("GP", "全科医疗科", True)
    assert pick["reason"].startswith("未能从描述中判断专科 → 全科医疗科")
    assert not any(d.get("fallback") for d in run("咳嗽咳痰", tree=with_gp)["departments"])


def test_a_sub_department_wins_over_a_top_level_namesake_and_ids_are_the_hospitals():
    t = tree(("A", "内科", None), ("B", "呼吸内科", "A"))
    assert DEMO.resolve("呼吸内科").name == "呼吸内科"
    assert t.resolve("呼吸内科").id == "B" and t.resolve("肾内科").id == "A"


def test_without_an_emergency_department_the_red_flag_still_says_call_120():
    tiny = tree(("IM", "内科", None))
    result = run("胸口压着疼，出冷汗", tree=tiny)
    assert result["emergency"] is True and "120" in result["advice"]
    assert all(d["name"] == "内科" for d in result["departments"])


# -- the knowledge base itself ---------------------------------------------------------
def test_the_shipped_knowledge_base_is_valid_and_round_trips():
    assert validate_kb(json.loads(KB_FILE.read_text(encoding="utf-8"))) == KB


@pytest.mark.parametrize("change, word", [
    (lambda kb: kb["departments"]["内科"].update(parent="呼吸内科"), "循环"),
    (lambda kb: kb["symptoms"]["头痛"]["ask"].append("no_such_question"), "no_such_question"),
    (lambda kb: kb["questions"]["fever"]["options"][1].update(value="yes"), "重复"),
    (lambda kb: kb["red_flags"][0]["when"].append(["不存在的症状"]), "不存在的症状"),
    (lambda kb: kb["body_parts"]["头部"].update(pain="头大"), "头大"),
])
def test_cross_reference_errors_are_reported(change, word):
    broken = copy.deepcopy(RAW)
    change(broken)
    with pytest.raises(InvalidRequest) as raised:
        validate_kb(broken)
    assert raised.value.code == "kb_invalid"
    assert any(word in d["message"] for d in raised.value.details)


# -- evaluation floors: a regression in the knowledge base fails here ---------------------
@pytest.mark.parametrize("name, size", [("triage_cases", 300), ("triage_holdout", 100), ("triage_blind", 77),
                                        ("triage_fresh", 51)])
def test_the_labelled_sets_stay_above_their_floors(name, size):
    report = evaluate(load_cases(ROOT / "bench" / "data" / f"{name}.jsonl"), KB_FILE)
    assert report.total >= size
    assert report.top1_accuracy >= 0.90
    assert report.top3_accuracy >= 0.95
    assert report.red_flag_recall == 1.0
    assert report.false_alarm_rate <= 0.02
