"""The 承办单 download on the case page: staff logins only, scoped like the case page
(a case outside the user's part of the grid tree answers 404), each download audited."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from minsheng import audit
from minsheng.case_sheet import FontMissing, sheet_for
from web import acting
from web.deps import CurrentUser, UnitDep, UserScope

router = APIRouter(prefix="/cases", include_in_schema=False)


@router.get("/{case_no}/sheet.pdf")
def case_sheet(request: Request, case_no: str, user: CurrentUser, scope: UserScope,
               unit: UnitDep):
    """The case's printable 承办单 as a PDF download."""
    acting.check_scope(unit, scope, case_no)
    settings = request.app.state.settings
    try:
        pdf = sheet_for(unit, case_no, settings.photos_dir, settings.timezone)
    except FontMissing as error:
        raise HTTPException(503, str(error)) from error
    audit.record(unit, "case_sheet", actor=f"user:{user.id}", target=case_no.upper(),
                 address=request.client.host if request.client else None)
    unit.commit()
    name = f"chengbandan-{case_no.upper()}.pdf"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
