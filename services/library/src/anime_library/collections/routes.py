"""Routes of collections (rules in `collections.service`): synchronous writes, 201 on create.

A write's transaction is the route's: the service writes in its session, the
commit comes when the block ends, and the answer is read back after it. The
session takes a connection at its first statement, so the catalog calls a
service makes before that hold none.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import (
    JSONResponse,
    PageParams,
    document,
    list_response,
    parse_body,
    parse_query,
    requires,
)
from anime_library.collections import service
from anime_library.collections.schemas import (
    CollectionDetailOut,
    CollectionIn,
    CollectionItemIn,
    CollectionItemOut,
    CollectionOut,
    CollectionPatch,
    CollectionsQuery,
)
from anime_library.collections.service import CollectionLimits
from anime_library.state import WRITE, get_state, user_of

TAGS = ("collections",)


def _limits(request: Request) -> CollectionLimits:
    settings = get_state(request).settings
    return CollectionLimits(
        max_items=settings.COLLECTION_MAX_ITEMS, per_user=settings.COLLECTIONS_PER_USER
    )


@document(
    "The caller's collections, or another user's public ones (`user_id`), newest first",
    query=CollectionsQuery,
    response=list[CollectionOut],
    tags=TAGS,
)
@requires()
async def list_collections(request: Request) -> Response:
    query = parse_query(request, CollectionsQuery)
    items, total = await service.list_collections(
        state=get_state(request),
        viewer=user_of(request),
        owner=query.user_id,
        limit=query.limit,
        offset=query.offset,
    )
    return list_response(request, items, total=total, page=query)


@document(
    "Create a collection, optionally with anime in it",
    body=CollectionIn,
    response=CollectionDetailOut,
    status_code=201,
    errors=[404, 409, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def create_collection(request: Request) -> Response:
    body = await parse_body(request, CollectionIn)
    state = get_state(request)
    async with state.database.transaction() as session:
        collection_id = await service.create_collection(
            session=session, state=state, limits=_limits(request), user_id=user_of(request),
            data=body,
        )  # fmt: skip
    created = await service.collection_detail(state=state, collection_id=collection_id)
    return JSONResponse(created, status_code=201)


@document(
    "A collection with its anime (the caller's, or another user's public one)",
    response=CollectionDetailOut,
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires()
async def get_collection(request: Request) -> Response:
    found = await service.get_collection(
        state=get_state(request), viewer=user_of(request), raw_id=request.path_params["id"]
    )
    return JSONResponse(found)


@document(
    "Rename, describe or publish one of the caller's collections (fields given only)",
    body=CollectionPatch,
    response=CollectionDetailOut,
    errors=[404, 409, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def update_collection(request: Request) -> Response:
    body = await parse_body(request, CollectionPatch)
    state = get_state(request)
    async with state.database.transaction() as session:
        collection_id = await service.update_collection(
            session=session, user_id=user_of(request), raw_id=request.path_params["id"], data=body
        )
    return JSONResponse(await service.collection_detail(state=state, collection_id=collection_id))


@document("Delete one of the caller's collections", status_code=204, errors=[404], tags=TAGS)
@requires(WRITE)
async def delete_collection(request: Request) -> Response:
    async with get_state(request).database.transaction() as session:
        await service.delete_collection(
            session=session, user_id=user_of(request), raw_id=request.path_params["id"]
        )
    return Response(status_code=204)


@document(
    "A page of a collection's anime, in the order they were added",
    query=PageParams,
    response=list[CollectionItemOut],
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires()
async def list_items(request: Request) -> Response:
    page = parse_query(request, PageParams)
    items, total = await service.list_items(
        state=get_state(request),
        viewer=user_of(request),
        raw_id=request.path_params["id"],
        limit=page.limit,
        offset=page.offset,
    )
    return list_response(request, items, total=total, page=page)


@document(
    "Add an anime to one of the caller's collections (200 when it is there already)",
    body=CollectionItemIn,
    response=CollectionItemOut,
    status_code=201,
    also=[200],
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def add_item(request: Request) -> Response:
    body = await parse_body(request, CollectionItemIn)
    state = get_state(request)
    async with state.database.transaction() as session:
        item, created = await service.add_item(
            session=session,
            state=state,
            limits=_limits(request),
            user_id=user_of(request),
            raw_id=request.path_params["id"],
            reference=body.anime_id,
        )
    return JSONResponse(item, status_code=201 if created else 200)


@document(
    "Remove an anime (catalog or HiAnime id) from one of the caller's collections",
    status_code=204,
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def remove_item(request: Request) -> Response:
    state = get_state(request)
    async with state.database.transaction() as session:
        await service.remove_item(
            session=session,
            state=state,
            user_id=user_of(request),
            raw_id=request.path_params["id"],
            reference=request.path_params["anime_id"],
        )
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/collections", list_collections, methods=["GET"]),
    Route("/collections", create_collection, methods=["POST"]),
    Route("/collections/{id}", get_collection, methods=["GET"]),
    Route("/collections/{id}", update_collection, methods=["PATCH"]),
    Route("/collections/{id}", delete_collection, methods=["DELETE"]),
    Route("/collections/{id}/items", list_items, methods=["GET"]),
    Route("/collections/{id}/items", add_item, methods=["POST"]),
    Route("/collections/{id}/items/{anime_id}", remove_item, methods=["DELETE"]),
]
