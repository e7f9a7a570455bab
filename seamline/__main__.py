"""`python -m seamline` runs the command line."""

from seamline.cli.main import app

app()
