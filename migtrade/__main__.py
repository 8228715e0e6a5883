from migtrade.cli.app import main

main()
