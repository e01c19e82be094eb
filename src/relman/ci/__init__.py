"""What the generated GitHub workflows run (``relman ci …``): read the runner's
environment (:mod:`relman.ci.github_env`), talk to relman's Release API
(:mod:`relman.ci.client`), decide which statuses a CI deploy enters
(:mod:`relman.ci.flow`) and run that deploy (:mod:`relman.ci.deploy`)."""
