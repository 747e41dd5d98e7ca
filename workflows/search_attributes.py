"""Custom search attributes of SPEC §3, shared by the starter, the workflow and the servers."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TEMPLATE_NAME = SearchAttributeKey.for_keyword("TemplateName")
TEMPLATE_VERSION = SearchAttributeKey.for_int("TemplateVersion")
STARTED_BY = SearchAttributeKey.for_keyword("StartedBy")
RUN_TAGS = SearchAttributeKey.for_keyword_list("RunTags")
RUN_STATE = SearchAttributeKey.for_keyword("RunState")
ASSIGNEES = SearchAttributeKey.for_keyword_list("Assignees")

ALL = (TEMPLATE_NAME, TEMPLATE_VERSION, STARTED_BY, RUN_TAGS, RUN_STATE, ASSIGNEES)


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
