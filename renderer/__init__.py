"""servespec: a declarative, checked pipeline from one YAML spec to a Modal + SGLang deployment.

Data flows one way, one module per stage:
    load -> validate -> rules -> estimate -> render -> run (the deploy steps: steps.py)
"""

__version__ = "0.1.0"
