"""The printed report: A4, Chinese text in an embedded font subset, a verification QR code.

fpdf2 embeds CFF-flavoured OpenType (Noto Sans CJK from Debian's fonts-noto-cjk) as a
subset of the glyphs used, so a page is tens of kilobytes and needs no font on the
printer or the internet. (reportlab's TTFont refuses CFF outlines.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from services.errors import DependencyUnavailable

FONT = "cjk"
DARK = (26, 26, 26)
MUTED = (90, 90, 90)
RED = (179, 38, 30)
BRAND = (10, 110, 92)


@dataclass(frozen=True)
class PdfReport:
    hospital: str
    kind: str
    title: str
    status: str
    version: int
    report_no: str
    patient_name: str          # masked
    sex: str
    age: str
    card_no: str               # masked
    department: str
    specimen: str
    collected_at: str
    reported_at: str
    items: list[tuple[str, str, str, str, str, bool]]   # name, value, flag text, unit, range, abnormal
    exam: dict[str, Any] | None
    amendment_note: str
    verify_url: str
    verify_code: str
    footer: str


def font_missing(path: str) -> DependencyUnavailable:
    return DependencyUnavailable(
        "pdf_font_missing", "打印字体未安装，暂时无法打印，请联系工作人员",
        details={"font": path, "fix": "run scripts/system-deps.sh (installs fonts-noto-cjk)"})


class _ReportPdf(FPDF):
    """Every page names the report and the (masked) patient and says which page it is."""

    page_note = ""

    def footer(self) -> None:
        self.set_y(-9)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.page_note} · 第 {self.page_no()} / {{nb}} 页", align="C")


def _document(config: Any) -> _ReportPdf:
    regular = Path(config.pdf_font)
    if not regular.exists():
        raise font_missing(str(regular))
    pdf = _ReportPdf(orientation="portrait", unit="mm", format="A4")
    pdf.set_title("检验检查报告")
    pdf.set_creator("Palm Hospital")
    # One face only: parsing and subsetting a CJK font is most of the render time, so
    # emphasis is size, colour, arrows and words rather than a second (bold) font.
    pdf.add_font(FONT, "", str(regular), collection_font_number=config.pdf_font_index)
    pdf.set_auto_page_break(auto=True, margin=48)
    pdf.set_margins(15, 14, 15)
    return pdf


def render(report: PdfReport, config: Any) -> bytes:
    """The report as PDF bytes."""
    pdf = _document(config)
    pdf.page_note = f"{report.title} · {report.patient_name} · 报告编号 {report.report_no}"
    pdf.add_page()
    pdf.set_text_color(*DARK)
    pdf.set_font(FONT, "", 18)
    pdf.cell(0, 10, report.hospital, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    heading = "检验报告单" if report.kind == "lab" else "检查报告单"
    if report.status == "amended":
        heading += f"（更正报告 第 {report.version} 版）"
    pdf.set_font(FONT, "", 15)
    pdf.cell(0, 9, heading, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    _facts(pdf, report)
    pdf.set_draw_color(*BRAND)
    pdf.set_line_width(0.6)
    pdf.line(15, pdf.get_y() + 1, 195, pdf.get_y() + 1)
    pdf.set_draw_color(170, 170, 170)
    pdf.set_line_width(0.2)
    pdf.ln(4)
    if report.kind == "lab":
        _items(pdf, report)
    else:
        _exam(pdf, report)
    if report.amendment_note:
        pdf.ln(3)
        pdf.set_font(FONT, "", 10.5)
        pdf.set_text_color(*RED)
        pdf.multi_cell(0, 6, f"更正说明：{report.amendment_note}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*DARK)
    _footer(pdf, report)
    return bytes(pdf.output())


def _facts(pdf: FPDF, report: PdfReport) -> None:
    facts = [("姓名", report.patient_name), ("性别", report.sex), ("年龄", report.age),
             ("就诊卡号", report.card_no), ("报告项目", report.title), ("科室", report.department),
             ("报告编号", report.report_no), ("标本", report.specimen if report.kind == "lab" else "—"),
             ("采集时间" if report.kind == "lab" else "检查时间", report.collected_at),
             ("报告时间", report.reported_at)]
    pdf.set_font(FONT, "", 10.5)
    width = 90
    for index, (label, value) in enumerate(facts):
        pdf.set_text_color(*MUTED)
        pdf.cell(26, 7, label + "：")
        pdf.set_text_color(*DARK)
        last = index % 2 == 1
        pdf.cell(width - 26, 7, value or "—",
                 new_x=XPos.LMARGIN if last else XPos.RIGHT, new_y=YPos.NEXT if last else YPos.TOP)


def _items(pdf: FPDF, report: PdfReport) -> None:
    pdf.set_font(FONT, "", 10.5)
    widths = (50, 24, 40, 26, 40)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "LEFT", "LEFT", "LEFT"),
                   line_height=7, first_row_as_headings=True,
                   headings_style=_heading_style(), borders_layout="HORIZONTAL_LINES") as table:
        table.row(("项目", "结果", "提示", "单位", "参考范围"))
        for name, value, flag, unit, ref, abnormal in report.items:
            row = table.row()
            style = FontFace(family=FONT, color=RED) if abnormal else None
            for cell in (name, value, flag, unit, ref):
                row.cell(cell or "", style=style)
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.ln(2)
    pdf.multi_cell(0, 5, "提示：↑ 偏高　↓ 偏低　↑↑/↓↓ 危急值。结果请结合临床，由医生解读。",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)


def _heading_style() -> Any:
    return FontFace(family=FONT, color=DARK, fill_color=(228, 240, 236))


def _exam(pdf: FPDF, report: PdfReport) -> None:
    exam = report.exam or {}
    part = f"（{exam['body_part']}）" if exam.get("body_part") else ""
    sections = [("检查项目", exam.get("exam", "") + part),
                ("检查所见", exam.get("findings", "")), ("诊断意见", exam.get("impression", ""))]
    for label, text in sections:
        pdf.set_font(FONT, "", 12)
        pdf.cell(0, 8, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 11)
        pdf.multi_cell(0, 6.5, text or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)


def _footer(pdf: FPDF, report: PdfReport) -> None:
    """QR code bottom-left with the verification text beside it, on the last page."""
    top = 297 - 46
    if pdf.get_y() > top - 2:
        pdf.add_page()
    pdf.set_auto_page_break(auto=False)
    image = qrcode.make(report.verify_url, box_size=6, border=2).get_image()
    pdf.set_draw_color(200, 200, 200)
    pdf.set_line_width(0.2)
    pdf.line(15, top - 2, 195, top - 2)
    pdf.image(image, x=15, y=top, w=34, h=34)
    pdf.set_xy(53, top + 2)
    pdf.set_font(FONT, "", 11)
    pdf.cell(0, 6, "扫码验证报告真伪", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(53)
    pdf.set_font(FONT, "", 9.5)
    pdf.cell(0, 5.5, f"校验码：{report.verify_code}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(53)
    pdf.set_text_color(*MUTED)
    pdf.cell(0, 5.5, report.footer, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(53)
    pdf.multi_cell(142, 5, "本报告仅对所检标本负责。如对结果有疑问，请咨询您的医生。",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*DARK)


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def render_receipt(receipt: dict[str, Any], printed_by: str, config: Any) -> bytes:
    """A paid bill's 电子票据 (from billing's ReceiptOut) as an A4 PDF, for the kiosk."""
    from services.clock import format_local

    pdf = _document(config)
    pdf.page_note = f"缴费票据 {receipt['receipt_no']} · {receipt['patient_name']}"
    pdf.add_page()
    pdf.set_text_color(*DARK)
    pdf.set_font(FONT, "", 18)
    pdf.cell(0, 10, receipt["hospital"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 15)
    pdf.cell(0, 9, "门诊缴费电子票据", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT, "", 10.5)
    facts = [("票据号", receipt["receipt_no"]), ("姓名", receipt["patient_name"]),
             ("项目", receipt["title"]), ("缴费时间", format_local(receipt["paid_at"])),
             ("支付方式", receipt.get("channel") or "—"), ("校验码", receipt["check_code"])]
    for index, (label, value) in enumerate(facts):
        last = index % 2 == 1
        pdf.set_text_color(*MUTED)
        pdf.cell(22, 7, label + "：")
        pdf.set_text_color(*DARK)
        pdf.cell(68, 7, str(value or "—"), new_x=XPos.LMARGIN if last else XPos.RIGHT,
                 new_y=YPos.NEXT if last else YPos.TOP)
    pdf.ln(3)
    with pdf.table(col_widths=(70, 25, 25, 30, 30), line_height=7, first_row_as_headings=True,
                   headings_style=_heading_style(), borders_layout="HORIZONTAL_LINES") as table:
        table.row(("项目", "数量", "单位", "单价", "金额"))
        for item in receipt["items"]:
            table.row((item["name"], str(item["quantity"]), item.get("unit", ""),
                       _yuan(item["unit_price_fen"]), _yuan(item["amount_fen"])))
    insurance = receipt["insurance"]
    pdf.ln(3)
    pdf.set_font(FONT, "", 11)
    for label, fen in (("合计", receipt["total_fen"]), ("医保统筹支付", insurance["pooled_fen"]),
                       ("个人账户支付", insurance["personal_account_fen"]),
                       ("个人自付（已支付）", receipt["paid_fen"])):
        pdf.cell(150, 7, label, align="R")
        pdf.cell(30, 7, _yuan(fen), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(0, 5, f"{printed_by} 打印 · 本票据与医院收费系统记录一致，可凭票据号与校验码核验。",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
