#!/bin/sh
# One-shot job (temporalio/admin-tools): the namespace and relayflow's custom search attributes (SPEC §3).
set -eu
NS=${TEMPORAL_NAMESPACE:-default}
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do sleep 2; done
temporal operator namespace describe -n "$NS" --address "$TEMPORAL_ADDRESS" \
  || temporal operator namespace create -n "$NS" --address "$TEMPORAL_ADDRESS"
temporal operator search-attribute create -n "$NS" --address "$TEMPORAL_ADDRESS" \
  --name TemplateName --type Keyword \
  --name TemplateVersion --type Int \
  --name StartedBy --type Keyword \
  --name RunTags --type KeywordList \
  --name RunState --type Keyword \
  --name Assignees --type KeywordList || true
temporal operator search-attribute list -n "$NS" --address "$TEMPORAL_ADDRESS"
