"""A report as a file people open: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the
Chinese headings) and XLSX (openpyxl), amounts in yuan as exact decimals."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from services.notifications.domain import reports as rules

KIND_ZH = {"monthly": "月调度", "quarterly": "季度报告"}


def title(report: dict[str, Any]) -> str:
    return f"{KIND_ZH[report['kind']]} {report['period']} {report['region_code']}（第{report['version']}版）"


def to_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rules.table(report["figures"]):
        writer.writerow(row)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: dict[str, Any]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = KIND_ZH[report["kind"]]
    sheet.append([title(report)])
    sheet["A1"].font = Font(bold=True)
    sheet.append([f"数据截至 {report['as_of']}，统计口径时点 {report['knowledge_at']}"])
    # Amounts arrive as exact decimal strings (yuan); the sheet keeps them as numbers, never via a float.
    amounts = {index + 2 for index, name in enumerate(rules.columns()) if rules.is_amount(name)}
    for number, row in enumerate(rules.table(report["figures"])):
        sheet.append(row if number == 0 else [Decimal(v) if i in amounts else v for i, v in enumerate(row)])
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    if report.get("differences"):
        changes = workbook.create_sheet("更正差异")
        changes.append(["地区代码", "指标", "原数", "现数"])
        for change in report["differences"]:
            changes.append([change["region_code"], rules.heading(change["figure"]), change["before"], change["after"]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
