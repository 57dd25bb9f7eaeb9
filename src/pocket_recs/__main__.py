"""``python -m pocket_recs`` runs the command line."""

from pocket_recs.cli.app import main

main()
