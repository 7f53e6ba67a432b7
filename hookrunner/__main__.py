from hookrunner.cli import main

main()
