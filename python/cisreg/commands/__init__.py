"""The CLI subcommands beyond fit / predict / info, one module each (see cisreg.cli.COMMAND_MODULES)."""
