"""A Flux job-validator plugin for the receiver's kill -9 test: it holds the first job of
every jobspec that asks (``attributes.user.slow``: the submit key of its step 1) in
job-ingest for a while before letting it through, so
a receiver killed meanwhile leaves a submission on its way, not yet listed, when the
next receiver starts: the window a resumed run could submit the same job twice in."""

import time

from flux.job.validator import ValidatorPlugin

HOLD = 0.5  # seconds: longer than a receiver takes to start and look the job up


class Validator(ValidatorPlugin):
    def validate(self, args):  # type: ignore[no-untyped-def]
        user = args.jobspec.get("attributes", {}).get("user", {})
        if user.get("slow") and str(user.get("jobspec", {}).get("submit_key")).endswith(".1"):
            time.sleep(HOLD)
        return None
