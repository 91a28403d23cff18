"""Customers in the browser: the list (search, filters, sortable columns, keyset pages)
and the customer 360 (identity, merges with undo, stats, RFM, predictions, segments, tags,
recommendations, the timeline with filters and "load more").

The list reads `customers.service.browse`: every sort is an index range from the cursor,
so it costs the same on page 1 and deep into a million customers. Filters by RFM group,
segment and churn tier are id subqueries over the tables those domains publish for
set-based SQL (`analytics.service.rfm_table`, `segments.service.membership_rows`,
`predictive.service.scores_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from patron.analytics import service as analytics_service
from patron.analytics.schemas import RfmGroup
from patron.auth.schemas import Permission, WebUser
from patron.core.errors import Conflict, NotFound, ValidationError
from patron.customers import service
from patron.customers.schemas import CustomerBrowsePage, CustomerSort, TimelineKind
from patron.predictive import service as predictive_service
from patron.predictive.schemas import ChurnRisk
from patron.recommendations import service as recommendations_service
from patron.segments import service as segments_service
from patron.store import service as store_service
from patron.store.schemas import Channel
from patron.web.deps import PageForbidden, ReadDb, WriteDb, page
from patron.web.labels import RFM_LABELS
from patron.web.templating import N_, render

router = APIRouter()

Reader = Annotated[WebUser, Depends(page(Permission.CUSTOMERS_READ))]
Writer = Annotated[WebUser, Depends(page(Permission.CUSTOMERS_WRITE))]

PAGE_SIZE = 50
TIMELINE_PAGE = 30
RECOMMENDED = 5

# Column headers of the list: sort key -> msgid, and the direction a first click sorts by.
SORT_LABELS = {
    CustomerSort.NAME: N_("Name"),
    CustomerSort.EMAIL: N_("Email"),
    CustomerSort.ORDERS: N_("Orders"),
    CustomerSort.SPENT: N_("Total spent"),
    CustomerSort.LAST_ORDER: N_("Last order"),
    CustomerSort.CREATED: N_("Created"),
}
FIRST_ASCENDING = {CustomerSort.NAME, CustomerSort.EMAIL}


CHURN_LABELS = {
    ChurnRisk.HIGH: N_("High"),
    ChurnRisk.MEDIUM: N_("Medium"),
    ChurnRisk.LOW: N_("Low"),
}

KIND_LABELS = {
    TimelineKind.EVENT: N_("Event"),
    TimelineKind.ORDER: N_("Order"),
    TimelineKind.REFUND: N_("Refund"),
    TimelineKind.CANCELLATION: N_("Cancellation"),
    TimelineKind.MERGE: N_("Merge"),
    TimelineKind.UNMERGE: N_("Merge undone"),
    TimelineKind.PROFILE: N_("Profile change"),
    TimelineKind.MESSAGE: N_("Message"),
    TimelineKind.SEGMENT: N_("Segment"),
    TimelineKind.PREDICTION: N_("Prediction"),
}

CHANNEL_LABELS = {
    Channel.WEB: N_("Web"),
    Channel.APP: N_("App"),
    Channel.MARKETPLACE: N_("Marketplace"),
    Channel.POS: N_("Point of sale"),
    Channel.SOCIAL: N_("Social"),
    Channel.EMAIL: N_("Email"),
    Channel.OTHER: N_("Other"),
}

IDENTITY_LABELS = {
    "email": N_("Email"),
    "phone": N_("Phone"),
    "external": N_("External id"),
    "anonymous": N_("Anonymous id"),
    "device": N_("Device"),
}


@dataclass
class Filters:
    q: str = ""
    rfm: str = ""
    tag: str = ""
    country: str = ""
    segment: str = ""
    churn: str = ""

    def any(self) -> bool:
        return any((self.q, self.rfm, self.tag, self.country, self.segment, self.churn))

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def _clip(value: str | None, n: int = 200) -> str:
    return (value or "").strip()[:n]


def _url(path: str, params: dict[str, Any]) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def _page_url(params: dict[str, Any], cursor: str | None) -> str | None:
    return _url("/customers", {**params, "cursor": cursor}) if cursor else None


def _id_filters(
    session: Session, user: WebUser, f: Filters
) -> tuple[list[Select[Any]], list[Select[Any]], dict[str, Any]]:
    """(within, without, context): the id subqueries of the RFM, segment and churn filters."""
    within: list[Select[Any]] = []
    without: list[Select[Any]] = []
    context: dict[str, Any] = {"segment_name": None}
    if f.rfm:
        if not user.can(Permission.ANALYTICS_READ):
            raise PageForbidden(Permission.ANALYTICS_READ)
        try:
            group = RfmGroup(f.rfm)
        except ValueError:
            raise ValidationError("is not an RFM group", field="rfm") from None
        rfm = analytics_service.rfm_table()
        if group is RfmGroup.PROSPECTS:  # no counted order: no row in the RFM table
            without.append(select(rfm.c.customer_id))
        else:
            within.append(select(rfm.c.customer_id).where(rfm.c.rfm_group == group.value))
    if f.segment:
        if not user.can(Permission.SEGMENTS_READ):
            raise PageForbidden(Permission.SEGMENTS_READ)
        if not f.segment.isdigit():
            raise ValidationError("is not a segment id", field="segment")
        try:
            seg = segments_service.get(session, segment_id=int(f.segment))
        except NotFound:
            raise ValidationError("no such segment", field="segment") from None
        members = segments_service.membership_rows(session).subquery()
        within.append(select(members.c.customer_id).where(members.c.key == seg.name))
        context["segment_name"] = seg.name
    if f.churn:
        if not user.can(Permission.PREDICTIONS_READ):
            raise PageForbidden(Permission.PREDICTIONS_READ)
        try:
            tier = ChurnRisk(f.churn)
        except ValueError:
            raise ValidationError("is not a churn risk tier", field="churn") from None
        scores = predictive_service.scores_table()
        within.append(select(scores.c.customer_id).where(scores.c.churn_risk == tier.value))
    return within, without, context


def _has_scores(session: Session) -> bool:
    return bool(predictive_service.list_scores(session, limit=1).items)


def _segments(session: Session, user: WebUser) -> list[Any]:
    if not user.can(Permission.SEGMENTS_READ):
        return []
    return list(segments_service.list(session, limit=200).items)


def _sort_links(f: Filters, sort: CustomerSort, descending: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, label in SORT_LABELS.items():
        if key is sort:
            next_desc = not descending
            state = "descending" if descending else "ascending"
        else:
            next_desc = key not in FIRST_ASCENDING
            state = "none"
        params = {**f.params(), "sort": key.value, "dir": "desc" if next_desc else "asc"}
        out[key.value] = {"label": label, "url": _url("/customers", params), "state": state}
    return out


@router.get("/customers")
def customers_list(
    request: Request,
    session: ReadDb,
    user: Reader,
    q: str | None = None,
    rfm: str | None = None,
    tag: str | None = None,
    country: str | None = None,
    segment: str | None = None,
    churn: str | None = None,
    sort: str | None = None,
    dir: str | None = None,  # noqa: A002 - the query parameter's name
    cursor: str | None = None,
) -> Response:
    f = Filters(
        q=_clip(q), rfm=_clip(rfm, 32), tag=_clip(tag, 100), country=_clip(country, 8),
        segment=_clip(segment, 20), churn=_clip(churn, 16),
    )  # fmt: skip
    error: ValidationError | None = None
    sort_key = CustomerSort.CREATED
    descending = True
    result = CustomerBrowsePage(items=[], next_cursor=None, prev_cursor=None)
    extra: dict[str, Any] = {"segment_name": None}
    store_empty = False
    try:
        if sort:
            try:
                sort_key = CustomerSort(sort)
            except ValueError:
                raise ValidationError("is not a column to sort by", field="sort") from None
        if dir not in (None, "", "asc", "desc"):
            raise ValidationError("must be asc or desc", field="dir")
        descending = dir != "asc" if dir else sort_key not in FIRST_ASCENDING
        if f.country and (len(f.country) != 2 or not f.country.isalpha()):
            raise ValidationError("must be a two-letter country code", field="country")
        within, without, extra = _id_filters(session, user, f)
        result = service.browse(
            session, q=f.q or None, country=f.country or None, tag=f.tag or None,
            within=within, without=without, sort=sort_key, descending=descending,
            cursor=cursor or None, limit=PAGE_SIZE,
        )  # fmt: skip
        if not result.items:
            store_empty = not f.any() or not service.browse(session, limit=1).items
    except ValidationError as exc:
        error = exc
    params = {**f.params(), "sort": sort and sort_key.value, "dir": dir}
    context = {
        "filters": f,
        "rows": result.items,
        "next_url": _page_url(params, result.next_cursor),
        "prev_url": _page_url(params, result.prev_cursor),
        "sort": sort_key.value,
        "descending": descending,
        "dir": dir or "",
        "columns": _sort_links(f, sort_key, descending),
        "error": error,
        "store_empty": store_empty,
        "segment_name": extra["segment_name"],
        "rfm_labels": RFM_LABELS if user.can(Permission.ANALYTICS_READ) else {},
        "churn_labels": (
            CHURN_LABELS
            if user.can(Permission.PREDICTIONS_READ) and (f.churn or _has_scores(session))
            else {}
        ),
        "segments": _segments(session, user),
        "can_import": user.can(Permission.IMPORT),
    }  # fmt: skip
    status = 422 if error else 200
    if request.headers.get("hx-target") == "customer-results":
        # 200 either way: htmx swaps only 2xx answers in, and the error belongs in the page.
        return render(request, "customers/_results.html", context, user=user, session=session)
    return render(request, "customers/list.html", context, user=user, session=session,
                  status=status)  # fmt: skip


# --- the 360 ------------------------------------------------------------------------------


def _timeline_filters(kind: list[str], channel: list[str]) -> tuple[list[str], list[str]]:
    kinds = [k for k in kind if k in {k.value for k in TimelineKind}]
    channels = [c for c in channel if c in {c.value for c in Channel}]
    return kinds, channels


def _rfm_of(session: Session, customer_id: int) -> dict[str, Any] | None:
    t = analytics_service.rfm_table()
    row = session.execute(select(t).where(t.c.customer_id == customer_id)).mappings().first()
    return dict(row) if row else None


def _segments_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    members = segments_service.membership_rows(session).subquery()
    names = session.scalars(
        select(members.c.key).where(members.c.customer_id == customer_id).order_by(members.c.key)
    ).all()
    out = []
    for name in names[:50]:
        try:
            out.append({"id": segments_service.find(session, ref=name).id, "name": name})
        except NotFound:
            continue
    return out


def _recommendations(session: Session, customer_id: int) -> list[Any] | None:
    """ "For you", or None when there is no model (the card is left out)."""
    try:
        found = recommendations_service.for_you(session, customer_id=customer_id, limit=RECOMMENDED)
    except (NotFound, ValidationError):
        return None
    if found.model_version is None:
        return None
    return list(found.items)


def _timeline_context(
    customer_id: int, timeline: dict[str, Any], kinds: list[str], channels: list[str]
) -> dict[str, Any]:
    more = None
    if timeline["next_cursor"]:
        params = {"kind": kinds, "channel": channels, "cursor": timeline["next_cursor"]}
        more = urlencode(params, doseq=True)
    return {
        "customer_id": customer_id,
        "entries": timeline["items"],
        "more_query": more,
        "kinds": kinds,
        "channels": channels,
        "kind_labels": KIND_LABELS,
        "channel_labels": CHANNEL_LABELS,
    }


@router.get("/customers/{customer_id}")
def customer_360(
    request: Request,
    session: ReadDb,
    user: Reader,
    customer_id: int,
    kind: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    cursor: str | None = None,
) -> Response:
    kinds, channels = _timeline_filters(kind or [], channel or [])
    currency = store_service.cached_settings(session).base_currency
    try:
        doc = service.profile_360(
            session, customer_id=customer_id, currency=currency, kinds=kinds or None,
            channels=channels or None, cursor=cursor or None, limit=TIMELINE_PAGE,
        )  # fmt: skip
    except ValidationError:  # a stale or hand-edited timeline cursor: start from the top
        doc = service.profile_360(
            session, customer_id=customer_id, currency=currency, kinds=kinds or None,
            channels=channels or None, limit=TIMELINE_PAGE,
        )  # fmt: skip
    if doc["id"] != customer_id:  # merged away: the surviving profile tells the story
        return RedirectResponse(f"/customers/{doc['id']}", status_code=303)
    cid = doc["id"]
    others = {m["winner_id"] if m["loser_id"] == cid else m["loser_id"] for m in doc["merges"]}
    context = {
        "c": doc,
        "identity_labels": IDENTITY_LABELS,
        "others": sorted(others),
        "rfm": _rfm_of(session, cid) if user.can(Permission.ANALYTICS_READ) else None,
        "rfm_labels": RFM_LABELS,
        "predictions": (doc.get("predictions") if user.can(Permission.PREDICTIONS_READ) else None),
        "churn_labels": CHURN_LABELS,
        "segments": (_segments_of(session, cid) if user.can(Permission.SEGMENTS_READ) else None),
        "recommended": (
            _recommendations(session, cid)
            if user.can(Permission.RECOMMENDATIONS_CUSTOMER)
            else None
        ),
        "can_write": user.can(Permission.CUSTOMERS_WRITE),
        "undone": request.query_params.get("undone", "")[:20],
        "undo_failed": request.query_params.get("undo_failed", "")[:20],
        **_timeline_context(cid, doc["timeline"], kinds, channels),
    }
    return render(request, "customers/detail.html", context, user=user, session=session)


@router.get("/customers/{customer_id}/timeline")
def customer_timeline(
    request: Request,
    session: ReadDb,
    user: Reader,
    customer_id: int,
    kind: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    cursor: str | None = None,
) -> Response:
    """The timeline as an htmx fragment: the whole list (filters changed) or, with a
    cursor, the next entries and a new "load more"."""
    kinds, channels = _timeline_filters(kind or [], channel or [])
    canonical = service.get(session, customer_id=customer_id).id
    page_ = service.timeline(
        session, customer_id=canonical, kinds=kinds or None, channels=channels or None,
        cursor=cursor or None, limit=TIMELINE_PAGE,
    )  # fmt: skip
    timeline = page_.model_dump()
    context = {**_timeline_context(canonical, timeline, kinds, channels), "append": bool(cursor)}
    if request.headers.get("hx-request") != "true":  # no JS: the whole page at this point
        query = urlencode({"kind": kinds, "channel": channels, "cursor": cursor or ""}, doseq=True)
        return RedirectResponse(f"/customers/{canonical}?{query}", status_code=303)
    return render(request, "customers/_timeline.html", context, user=user, session=session)


@router.post("/customers/{customer_id}/merges/{merge_id}/undo")
def undo_merge(
    request: Request, session: WriteDb, user: Writer, customer_id: int, merge_id: int
) -> Response:
    """Undo one merge of this profile (the other profile comes back as it was)."""
    owned = {m.id for m in service.merges(session, customer_id=customer_id)}
    if merge_id not in owned:
        raise NotFound(f"merge {merge_id} not found", field="merge_id")
    try:
        service.unmerge(session, merge_id=merge_id)
    except Conflict:  # already undone (another tab), or a later merge depends on it
        return RedirectResponse(f"/customers/{customer_id}?undo_failed={merge_id}", 303)
    return RedirectResponse(f"/customers/{customer_id}?undone={merge_id}", status_code=303)
