from trent.cli import main

main()
