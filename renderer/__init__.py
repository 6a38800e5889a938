"""servespec: a declarative, checked pipeline from one YAML spec to a Modal + SGLang deployment.

The package reads as the pipeline, one subpackage per stage, data flowing one way:

    spec      load the YAML (positions, extends, old spellings), JSON Schema, defaults
    facts     model facts: written from config.json, loaded for a spec
    resolve   spec + facts + catalogs -> one typed Deployment
    estimate  weights, KV cache, SGLang's memory defaults, cost, cold start
    rules     engine-, model- and hardware-aware checks over all of the above
    render    the Deployment -> rendered/<name>/ through templates/
    run       the deploy runner: steps.json, step by step, resumable
    operate   smoke, wake, bench, status, logs, rollback, stop

Apart from the stages: runtime/ runs inside the Modal container (standard library only),
engine/ runs inside the pinned SGLang's own environment, catalog/ holds the knowledge as data,
scaffold/ writes a new repository, cli/ is the command line. The import name is `renderer`;
the distribution and the command are `servespec`.
"""

__version__ = "0.1.0"
