"""`python -m renderer.cli`: the servespec command."""

from renderer.cli.main import main

main()
