"""The people's side of approvals (SPEC §11): the web inbox at `/ui` and decision links
at `/d/<token>`. Server-rendered Jinja2 templates and plain CSS; no JavaScript build."""
