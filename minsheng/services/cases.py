"""The case services as one module, the contract other packages code against:

    from minsheng.services import cases
    result = cases.open_case(uow, cases.NewCase(...))

The work is done in ``intake`` (opening), ``handling`` (staff), ``feedback`` (residents)
and ``queries`` (read models); this module only gathers them.
"""
from __future__ import annotations

from .contract import (
    CaseView,
    Contact,
    EventView,
    NewCase,
    OpenResult,
    PhotoView,
    RatingView,
    ResidentRef,
)
from .feedback import add_info, check_awaiting_rating, may_record_callback, rate, withdraw
from .handling import acknowledge, add_progress, escalate, merge, reassign, resolve, return_case
from .intake import open_case
from .queries import (
    cases_of_resident,
    contact_for_resident,
    get_case,
    list_cases,
    open_cases_of_staff,
)

__all__ = [
    "CaseView",
    "Contact",
    "EventView",
    "NewCase",
    "OpenResult",
    "PhotoView",
    "RatingView",
    "ResidentRef",
    "acknowledge",
    "add_info",
    "add_progress",
    "cases_of_resident",
    "check_awaiting_rating",
    "contact_for_resident",
    "escalate",
    "get_case",
    "list_cases",
    "may_record_callback",
    "merge",
    "open_case",
    "open_cases_of_staff",
    "rate",
    "reassign",
    "resolve",
    "return_case",
    "withdraw",
]
