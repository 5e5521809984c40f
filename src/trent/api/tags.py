"""TagResource, UntagResource, ListResourceTags."""

from __future__ import annotations

from typing import Any

from trent.api.authorize import key_for, tag_context
from trent.api.common import page
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.domain.errors import TagException, check_storable

MAX_TAGS_PER_KEY = 50


def check_new_tags(tags: list[dict[str, Any]], existing: dict[str, str]) -> dict[str, str]:
    """Validate tags to add to a key that has `existing`; returns them as a dict.

    :raises TagException: reserved `aws:` prefix, duplicate keys in the request, more than 50 tags in all.
    """
    new: dict[str, str] = {}
    for tag in tags:
        tag_key = check_storable(tag["TagKey"], "tags.member.tagKey")
        check_storable(tag["TagValue"], "tags.member.tagValue")
        if tag_key.lower().startswith("aws:"):
            raise TagException("Tags beginning with aws: are reserved")
        if tag_key in new:
            raise TagException("Duplicate tag keys")
        new[tag_key] = tag["TagValue"]
    if len(existing.keys() | new.keys()) > MAX_TAGS_PER_KEY:
        raise TagException("Too many tags")
    return new


def tag_resource(services: Services, ctx: RequestContext, req: Request) -> Response:
    requested = check_new_tags(req["Tags"], existing={})  # reads only the request: before the decision
    with services.store.transaction() as tx:
        key = key_for(
            tx, services, ctx, req["KeyId"], action="kms:TagResource", for_update=True, facts=tag_context(requested)
        )
        key.require_state_for("TagResource")
        tx.tags.put(key.ref, check_new_tags(req["Tags"], tx.tags.of_key(key.ref)))
        record_change(services, tx, ctx)
    return {}


def untag_resource(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction() as tx:
        key = key_for(
            tx,
            services,
            ctx,
            req["KeyId"],
            action="kms:UntagResource",
            for_update=True,
            facts={"aws:TagKeys": list(req["TagKeys"])},
        )
        key.require_state_for("UntagResource")
        if any(tag_key.lower().startswith("aws:") for tag_key in req["TagKeys"]):
            raise TagException("Tags beginning with aws: are reserved")
        tx.tags.delete(key.ref, req["TagKeys"])
        record_change(services, tx, ctx)
    return {}


def list_resource_tags(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction(write=False) as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:ListResourceTags")
        all_tags = sorted(tx.tags.of_key(key.ref).items())

    def fetch(after: str | None, limit: int) -> list[tuple[str, str]]:
        return [item for item in all_tags if after is None or item[0] > after][:limit]

    items, more = page(services, "tags", key.arn, req, fetch, lambda item: item[0], default_limit=50, max_limit=50)
    return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in items], **more}
