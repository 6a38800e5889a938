"""`servespec deploy`: run rendered/<name>/steps.json step by step (built by renderer/render/steps.py).

What a run does:
  * Preflight first, always, before anything changes: steps.json is fresh against its spec, the
    `modal` CLI is installed at the version deploy.py and jobs.py target, the smoke step's API key is set
    locally, Modal accepts the token, and every Secret the spec names exists. The first failed
    check stops the run with one sentence.
  * Each later step runs its commands as child processes in their own session (process group),
    so a timeout or Ctrl-C stops the command and everything it started. A command whose skip
    check proves it already happened (volume exists, marker present) is skipped and said so.
  * The first failure stops the run and reports the step, its exit code, the last lines of its
    output and the command that resumes from there.
  * One JSON line per step goes to runs/<spec name>.jsonl; runs/<app>.lock keeps two deploys of
    the same app apart (flock, so a crashed runner never leaves a lock that blocks).

Resume semantics:
  * `--from STEP` runs preflight, then STEP and everything after it. The failure message names
    this command.
  * A plain run (no --from/--only) right after a run of the same steps (same steps.json digest)
    that failed, timed out or was interrupted resumes it: steps that run recorded as finished
    (ok or skipped) are skipped as "done in run <id>"; preflight is re-checked anyway. After a
    completed run, or when the steps changed, a plain run starts over (every step still checks
    its markers). `--from preflight` forces a run of every step.
  * `--only STEP` runs preflight and STEP.

The endpoint URL (for wait and smoke): $SERVESPEC_ENDPOINT_URL if set, else the URL `modal
deploy` printed in this run, else one recorded for these steps, else the steps' URL template filled
with the workspace `modal token info` named in preflight.

Exit codes: 0 done, 1 a step or preflight failed (or the lock is held), 2 usage error,
130 interrupted. A timed-out step is recorded with exit code 124, as timeout(1) reports it.

Every string printed or recorded goes through one redactor: values of environment variables
whose names look secret (TOKEN, SECRET, KEY, PASSWORD, PASSWD, CREDENTIAL; MODAL_TOKEN_* among
them) and of the spec's API key variable become "***".

Modules, by job: display (output), process (child process groups), skip (skip checks),
records (runs/ records and the lock), context (steps.json and its endpoint), preflight,
commands, wait, dryrun, and main (the orchestration).
"""

from renderer.run.main import deploy_main

__all__ = ["deploy_main"]
