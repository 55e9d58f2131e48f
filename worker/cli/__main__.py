"""``python -m worker.cli`` runs the ``socialcal`` command (handy without the console script)."""

from worker.cli import main

main()
