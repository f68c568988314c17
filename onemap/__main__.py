"""``python -m onemap`` runs the command line."""

from .cli import app

app(prog_name="onemap")
