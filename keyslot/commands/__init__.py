"""One module per `keyslot` subcommand: `configure(parser)` adds options, `run(args)` does it.

Keep heavy imports inside `run` so building the parser stays cheap.
"""
