"""Custom search attributes of SPEC §3, shared by the starter, the workflow and the servers.

`start_attributes` is the one place the attributes a run starts with are built: the
API's starter and the `subflow` kind (child runs) both use it.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

TEMPLATE_NAME = SearchAttributeKey.for_keyword("TemplateName")
TEMPLATE_VERSION = SearchAttributeKey.for_int("TemplateVersion")
STARTED_BY = SearchAttributeKey.for_keyword("StartedBy")
RUN_TAGS = SearchAttributeKey.for_keyword_list("RunTags")
RUN_STATE = SearchAttributeKey.for_keyword("RunState")
ASSIGNEES = SearchAttributeKey.for_keyword_list("Assignees")

ALL = (TEMPLATE_NAME, TEMPLATE_VERSION, STARTED_BY, RUN_TAGS, RUN_STATE, ASSIGNEES)


def tag_values(tags: dict[str, str]) -> list[str]:
    """`RunTags` values: `key:value`, sorted."""
    return [f"{k}:{v}" for k, v in sorted(tags.items())]


def start_attributes(
    template: str, version: int, started_by: str | None, tags: dict[str, str]
) -> TypedSearchAttributes:
    """What a run (or a child run) starts with; RunState=running costs no upsert later."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(TEMPLATE_NAME, template),
        SearchAttributePair(TEMPLATE_VERSION, version),
        SearchAttributePair(RUN_STATE, "running"),
    ]
    if started_by:
        pairs.append(SearchAttributePair(STARTED_BY, started_by))
    if tags:
        pairs.append(SearchAttributePair(RUN_TAGS, tag_values(tags)))
    return TypedSearchAttributes(pairs)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {
        "KEYWORD": "Keyword",
        "INT": "Int",
        "KEYWORD_LIST": "KeywordList",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
