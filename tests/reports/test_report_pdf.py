"""The printed report: rasterised with pdftoppm and checked like a person holding the paper
would — A4, Chinese title and table really drawn, QR code that opens the verify page."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.reports.helpers import family, lab
from tests.support import device_client

CRITICAL_ITEMS = [
    {"code": "K", "name": "钾", "value": "6.8", "unit": "mmol/L", "reference_range": "3.5-5.3",
     "flag": "危急"},
    {"code": "NA", "name": "钠", "value": "140", "unit": "mmol/L", "reference_range": "137-147"},
    {"code": "CL", "name": "氯", "value": "95", "unit": "mmol/L", "reference_range": "99-110"},
]


@pytest.fixture(scope="module")
def printed(app, tmp_path_factory):
    his, kiosk = device_client(app, "his"), device_client(app, "kiosk", "门诊大厅1号")
    _, _, patient, _ = family(app, name="欧阳建华", card_no="880066660001")
    body = lab(patient["id"], items=CRITICAL_ITEMS, title="电解质")
    report_id = his.post("/api/v1/his/reports", json=body).json()["id"]
    token = kiosk.post("/api/v1/kiosk/sessions", json={"card_no": "880066660001"}).json()["token"]
    response = kiosk.post("/api/v1/kiosk/print", json={"report_id": report_id},
                          headers={"X-Kiosk-Session": token})
    assert response.status_code == 200, response.text
    folder = tmp_path_factory.mktemp("pdf")
    pdf = folder / "report.pdf"
    pdf.write_bytes(response.content)
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(pdf), str(folder / "page")],
                   check=True, timeout=60)
    return {"pdf": pdf, "png": folder / "page.png", "his": his, "body": body, "report_id": report_id}


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def ink(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """Share of dark pixels in a box given as fractions of the page (left, top, right, bottom)."""
    w, h = image.size
    region = image.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))).convert("L")
    pixels = list(region.get_flattened_data())
    return sum(p < 160 for p in pixels) / len(pixels)


def test_the_pdf_is_one_a4_page_with_the_cjk_font_embedded_as_a_subset(printed):
    info = run("pdfinfo", str(printed["pdf"]))
    assert "A4" in info and "Pages:           1" in info
    fonts = run("pdffonts", str(printed["pdf"]))
    cjk = [line for line in fonts.splitlines() if "NotoSansCJK" in line]
    assert cjk and all(" yes yes yes " in line for line in cjk)   # embedded, subset, unicode map
    size = printed["pdf"].stat().st_size
    assert size < 200_000   # a subset, not the 16 MB collection


def test_the_text_has_the_hospital_masked_patient_and_flagged_items(printed):
    text = run("pdftotext", "-layout", str(printed["pdf"]), "-")
    for expected in ("掌上医院示范医共体", "检验报告单", "欧**华", "88******0001", "电解质",
                     "钾", "6.8", "危急（偏高）", "偏低", "3.5-5.3", "扫码验证报告真伪", "第 1 次打印"):
        assert expected in text, expected
    assert "欧阳建华" not in text and "880066660001" not in text
    lines = [line for line in text.splitlines() if line.strip().startswith(("钾", "钠", "氯"))]
    assert [line.split()[0] for line in lines] == ["钾", "氯", "钠"]   # abnormal first


def test_the_rasterised_page_is_a4_with_ink_where_the_title_table_and_qr_are(printed):
    image = Image.open(printed["png"])
    w, h = image.size
    assert abs(h / w - 297 / 210) < 0.01
    assert ink(image, (0.30, 0.04, 0.70, 0.09)) > 0.03      # hospital name and title
    assert ink(image, (0.07, 0.25, 0.93, 0.36)) > 0.02      # the items table
    assert ink(image, (0.07, 0.85, 0.24, 0.96)) > 0.20      # the QR code
    assert ink(image, (0.07, 0.45, 0.93, 0.80)) < 0.005     # nothing scribbled in between
    # red ink marks the abnormal rows (colour) next to the words 偏高/偏低/危急
    red = sum(1 for r, g, b in image.convert("RGB").get_flattened_data() if r > 150 and g < 90 and b < 90)
    assert red > 500


def test_the_qr_code_opens_the_verify_page_with_masked_data_only(app, printed):
    import zxingcpp
    image = Image.open(printed["png"])
    w, h = image.size
    found = zxingcpp.read_barcodes(image.crop((0, int(0.8 * h), int(0.3 * w), h)))
    assert len(found) == 1
    url = found[0].text
    assert url.startswith(f"{app.settings.public_url}/h5/reports/verify/")
    page = app.http.get(url.replace(app.settings.public_url, ""))
    assert page.status_code == 200
    assert "本院出具的真实报告" in page.text and "欧**华" in page.text
    assert "欧阳建华" not in page.text and "6.8" not in page.text
    tampered = app.http.get(url.replace(app.settings.public_url, "")[:-4] + "AAAA")
    assert "验证失败" in tampered.text and tampered.status_code == 404


def test_an_amended_report_marks_the_old_paper_as_superseded(app, printed):
    import zxingcpp
    image = Image.open(printed["png"])
    url = zxingcpp.read_barcodes(image)[0].text.replace(app.settings.public_url, "")
    body = printed["body"]
    items = [dict(i) for i in body["items"]]
    items[0]["value"] = "5.0"
    items[0].pop("flag")
    amended = printed["his"].post("/api/v1/his/reports", json={**body, "status": "amended", "items": items,
                                                              "amendment_note": "标本溶血，重新采血复测"})
    assert amended.json()["version"] == 2
    page = app.http.get(url).text
    assert "本院出具的真实报告" in page and "不是最新版本" in page and "第 2 版" in page


def test_a_missing_font_is_a_clear_503_not_a_crash(app, printed, tmp_path):
    from services.errors import DependencyUnavailable
    from services.reports.pdf import render
    from services.reports.service import ReportsConfig

    with pytest.raises(DependencyUnavailable) as error:
        render(None, ReportsConfig(pdf_font=str(Path(tmp_path) / "missing.ttc")))  # type: ignore[arg-type]
    assert error.value.code == "pdf_font_missing" and "fonts-noto-cjk" in str(error.value.details)


def test_a_long_report_continues_on_numbered_pages_naming_the_patient(tmp_path):
    from services.reports.pdf import PdfReport, render
    from services.reports.service import ReportsConfig

    items = [(f"项目{i}", f"{i}.5", "↑ 偏高" if i % 7 == 0 else "", "mmol/L", "1-9", i % 7 == 0)
             for i in range(70)]
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render(PdfReport(
        hospital="掌上医院", kind="lab", title="体检全项", status="final", version=1, report_no="LIS-9",
        patient_name="张*", sex="男", age="41岁", card_no="88****1234", department="检验科",
        specimen="静脉血", collected_at="", reported_at="", items=items, exam=None, amendment_note="",
        verify_url="http://127.0.0.1/h5/reports/verify/x.y", verify_code="ABC", footer="第 1 次打印"),
        ReportsConfig()))
    pages = int(next(line.split()[-1] for line in run("pdfinfo", str(pdf)).splitlines()
                     if line.startswith("Pages:")))
    assert pages >= 2
    for page in range(1, pages + 1):
        text = run("pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-")
        assert f"体检全项 · 张* · 报告编号 LIS-9 · 第 {page} / {pages} 页" in text
        assert ("扫码验证报告真伪" in text) == (page == pages)   # the QR block ends the report
    assert "项目69" in run("pdftotext", str(pdf), "-")
