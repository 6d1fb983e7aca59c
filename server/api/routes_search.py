"""``GET /api/search``: transcript segments, minutes and tasks of every meeting the caller may see."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import ActorDep, SessionDep
from server.services import search
from server.services.search import SearchKind, SearchParams, SearchResults

router = APIRouter(tags=["search"])


@router.get("/api/search", response_model=SearchResults)
def search_all(
    session: SessionDep,
    actor: ActorDep,
    q: Annotated[str, Query(max_length=500, description='Từ khóa; "cụm từ", tiền tố*')],
    day_from: Annotated[dt.date | None, Query(alias="from")] = None,
    day_to: Annotated[dt.date | None, Query(alias="to")] = None,
    unit: str | None = None,
    meeting: int | None = None,
    kind: SearchKind | None = None,
    speaker: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = search.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=search.MAX_OFFSET)] = 0,
) -> SearchResults:
    params = SearchParams(
        q=q,
        day_from=day_from,
        day_to=day_to,
        unit=unit,
        meeting=meeting,
        kind=kind,
        speaker=speaker,
        limit=limit,
        offset=offset,
    )
    return search.search(session, actor, params)
