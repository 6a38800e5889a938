"""The runtime: the code that runs inside the Modal containers of every rendered app.

Standard library only (a test enforces it), and nothing of the rest of the package: the
container has neither. The render stage joins these modules, in the order of MODULES, into one
file per render tree, rendered/_runtime/servespec_runtime.py (renderer/render/runtime_file.py),
which every image of every app attaches at /root/servespec_runtime.py. A module may import an
earlier one with a relative import (`from .redact import Redactor`); in the joined file that
import disappears and the name is simply there, so no two modules may define the same top-level
name.

To add a module: write it here and name it in MODULES after the modules it imports.
"""

# The joined file's order: every module after the ones it imports.
MODULES = ("redact", "supervise", "container", "cache_prune", "bench_driver", "eval_driver")
