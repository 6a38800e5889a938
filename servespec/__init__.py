"""servespec: a declarative, checked pipeline from one YAML spec to a Modal + SGLang deployment.

Data flows one way, one module per stage:
    load -> validate -> check -> plan -> render -> run
"""

__version__ = "0.1.0"
