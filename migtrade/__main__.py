from migtrade.cli.app import entry

entry()
