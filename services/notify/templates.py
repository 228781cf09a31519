"""Message templates: one Chinese text per template, naming its variables.

Callers pass `params` with exactly the template's variables (strings; `patient` is
always the MASKED name, `amount` a display string such as "¥12.50"). The table is
checked at start-up (`check_templates`): a text that uses an undeclared variable, or
declares one it never uses, stops the process before any message is written.

Provider-side template ids (Aliyun TemplateCode, Tencent TemplateId, WeChat
template_id and field names) are configuration (`[notify.templates.<name>]`),
because each hospital gets its own approved templates.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    name: str
    title: str                    # short title (admin page, WeChat first line)
    text: str                     # SMS / console text with {variable} placeholders
    variables: tuple[str, ...]    # in order: also Tencent's TemplateParamSet order {1},{2},…
    urgent: bool = False          # always urgent: skips quiet hours and per-recipient limits

    def render(self, params: Mapping[str, str]) -> str:
        return self.text.format_map(dict(params))


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("login_code", "登录验证码",
             "您的登录验证码为{code}，{minutes}分钟内有效。如非本人操作，请忽略本短信。",
             ("code", "minutes"), urgent=True),
    Template("appointment_booked", "预约成功",
             "{patient}您好，您已成功预约{department}{doctor}医生，就诊时间{time}，"
             "就诊序号{ticket}，请按时就诊。",
             ("patient", "department", "doctor", "time", "ticket")),
    Template("appointment_cancelled", "预约已取消",
             "{patient}您好，您预约的{department}（{time}）已取消。如有疑问请联系医院。",
             ("patient", "department", "time")),
    Template("appointment_reminder", "就诊提醒",
             "{patient}您好，提醒您明天{time}在{place}就诊（{department}{doctor}医生），"
             "请携带相关证件提前到达。",
             ("patient", "department", "doctor", "time", "place")),
    Template("stop_clinic", "停诊通知",
             "{patient}您好，很抱歉，{department}{doctor}医生{time}停诊，您的预约已取消，"
             "费用将原路退回，请改约其他时段。",
             ("patient", "department", "doctor", "time")),
    Template("waitlist_promoted", "候补成功",
             "{patient}您好，您候补的{department}{doctor}医生号源已成功预约，就诊时间{time}，"
             "就诊序号{ticket}。",
             ("patient", "department", "doctor", "time", "ticket")),
    Template("queue_near", "即将叫号",
             "{patient}您好，{department}前面还有{ahead}位患者，请到候诊区等候叫号。",
             ("patient", "department", "ahead")),
    Template("payment_succeeded", "缴费成功",
             "{patient}您好，您已成功缴纳{item}费用{amount}。",
             ("patient", "amount", "item")),
    Template("payment_refunded", "退款通知",
             "{patient}您好，{item}费用{amount}已退款，将原路退回您的支付账户。",
             ("patient", "amount", "item")),
    Template("report_ready", "报告已出",
             "{patient}您好，您的{report}报告已出，请点击查看：{link}",
             ("patient", "report", "link")),
    Template("critical_value", "危急值提醒",
             "【危急值】{patient}您好，您的{report}中{item}结果异常，请立即联系医生或尽快到医院就诊。",
             ("patient", "report", "item"), urgent=True),
    Template("decoction_stage", "代煎进度",
             "{patient}您好，您的中药处方{rx_no}代煎进度更新：{stage}。查看详情：{link}",
             ("patient", "rx_no", "stage", "link")),
    Template("decoction_shipped", "中药已发货",
             "{patient}您好，您的中药处方{rx_no}已由{courier}发出，运单号{tracking_no}。"
             "查看详情：{link}",
             ("patient", "rx_no", "courier", "tracking_no", "link")),
)}

# Other domains call these names; removing one breaks them.
REQUIRED_TEMPLATES = frozenset({
    "login_code", "appointment_booked", "appointment_cancelled", "appointment_reminder",
    "stop_clinic", "waitlist_promoted", "queue_near", "payment_succeeded", "payment_refunded",
    "report_ready", "critical_value", "decoction_stage", "decoction_shipped",
})


class TemplateError(ValueError):
    """The template table is inconsistent (raised at start-up)."""


def placeholders(text: str) -> list[str]:
    """The {names} a text uses, in order of appearance."""
    names = []
    for _, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise TemplateError(f"placeholder {{{field}}} must be a plain variable name")
        names.append(field)
    return names


def check_templates(templates: Mapping[str, Template],
                    required: frozenset[str] = REQUIRED_TEMPLATES) -> None:
    """Refuse a table whose texts and declared variables disagree, or that lacks a template."""
    missing = sorted(required - set(templates))
    if missing:
        raise TemplateError(f"missing notification templates: {', '.join(missing)}")
    for name, template in templates.items():
        if name != template.name:
            raise TemplateError(f"template {name!r} is registered under another name")
        used = placeholders(template.text)
        declared = template.variables
        if len(set(declared)) != len(declared):
            raise TemplateError(f"template {name!r} declares a variable twice")
        unknown = sorted(set(used) - set(declared))
        if unknown:
            raise TemplateError(f"template {name!r} uses undeclared variables: {', '.join(unknown)}")
        unused = sorted(set(declared) - set(used))
        if unused:
            raise TemplateError(f"template {name!r} declares unused variables: {', '.join(unused)}")
