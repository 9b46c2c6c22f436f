"""``python -m saboteur`` runs the CLI."""

from saboteur.cli import main

main()
