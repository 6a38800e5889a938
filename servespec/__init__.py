"""Deprecated import name of servespec's package: import `renderer` instead.

Kept for one release so that repositories whose CI imports `servespec.sglang_parse` (written by
`servespec init` before the package was renamed) keep working; it says so on stderr.
"""

import sys

from renderer import __version__  # noqa: F401 - the one version, re-exported for old callers

print("servespec: the import name `servespec` is deprecated and goes away in the next release; "
      "import `renderer` (e.g. renderer.engine.parse) instead", file=sys.stderr)
