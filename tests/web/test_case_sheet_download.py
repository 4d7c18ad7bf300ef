"""The 承办单 download on the case page: a PDF for logins in scope, 404 outside it, each
download in the audit log."""
from __future__ import annotations

import pypdfium2
from sqlalchemy import select

from minsheng.models import AuditEntry
from tests.web.conftest import login, open_case


def test_a_login_in_scope_downloads_the_sheet_and_it_is_audited(client, db):
    case_no = open_case(db, "楼道堆满杂物", "幸福小区", building="1号楼")
    login(client, "grid1")
    assert f'href="/cases/{case_no}/sheet.pdf"' in client.get(f"/cases/{case_no}").text
    response = client.get(f"/cases/{case_no}/sheet.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    text = pypdfium2.PdfDocument(response.content)[0].get_textpage().get_text_range()
    assert case_no in text and "楼道堆满杂物" in text and "138****5678" in text
    with db.uow() as uow:
        entries = uow.session.execute(select(AuditEntry.action, AuditEntry.target)).all()
    assert ("case_sheet", case_no) in entries


def test_a_login_of_another_grid_gets_404_and_no_login_gets_the_login_page(client, db):
    case_no = open_case(db, "楼道堆满杂物", "幸福小区", building="1号楼")
    assert client.get(f"/cases/{case_no}/sheet.pdf", follow_redirects=False).status_code == 303
    login(client, "grid2")
    response = client.get(f"/cases/{case_no}/sheet.pdf")
    assert response.status_code == 404 and not response.content.startswith(b"%PDF")
