from keyfob.cli import main

main()
