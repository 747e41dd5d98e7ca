"""The `relayflow` command-line interface: an operator's door to the HTTP API (SPEC §5).

`cli.main` wires the typer commands, `cli.client` talks HTTP, `cli.render` draws
tables, `cli.offline` validates and draws templates without a server.
"""
