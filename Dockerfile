# relman's server image: the Release API, the deploy worker and (with a token) the Telegram
# bot, as `relman serve --migrate` on 0.0.0.0:8000. compose.yaml runs it next to PostgreSQL.
#
#   docker build -t relman .
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and its venv module. CI passes a
# Debian bookworm made locally with debootstrap (no public registry is reachable there).
#
# Few steps on purpose: on the vfs storage driver (CI's engine) every step, even ENV, copies
# the whole file system once, so the metadata of the runtime stage comes before its big COPY.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
# A package mirror, if any (pip reads PIP_* from the environment; an ARG that is not passed
# stays unset). They exist in this stage only: the runtime stage never sees them.
ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST
# The pinned dependencies before the code, so that a code change does not download them
# again. The lock also pins the dev tools (`make lock` compiles --extra dev: pytest, mypy,
# ruff, …), so the script writes the part relman's [project] dependencies reach, following
# the lock's own "# via" notes (which package needs which), blocks and hashes unchanged;
# --require-hashes refuses any artifact whose hash is not in it, and any dependency the
# part would miss. pip trusts the base image's CA store rather than only its bundled
# certifi: that is where a TLS-intercepting proxy's CA is installed.
COPY requirements.lock pyproject.toml /build/
RUN set -eu; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    python3 -m venv /opt/relman; \
    printf '%s\n' \
      'import re, tomllib' \
      'from pip._vendor.packaging.requirements import Requirement' \
      'from pip._vendor.packaging.utils import canonicalize_name as norm' \
      'blocks, needs = {}, {}' \
      'for block in re.split(r"\n(?=[^\s#])", open("/build/requirements.lock").read()):' \
      '    if block.startswith("#"):' \
      '        continue' \
      '    name = norm(re.match(r"[^\s=;\[]+", block)[0])' \
      '    blocks[name] = block.rstrip() + "\n"' \
      '    for line in block.partition("# via")[2].splitlines():' \
      '        words = line.replace("#", " ").split()' \
      '        if words:' \
      '            needs.setdefault(norm(words[0]), set()).add(name)' \
      'project = tomllib.load(open("/build/pyproject.toml", "rb"))["project"]' \
      'todo, keep = [norm(Requirement(d).name) for d in project["dependencies"]], set()' \
      'while todo:' \
      '    name = todo.pop()' \
      '    if name not in keep:' \
      '        keep.add(name)' \
      '        todo.extend(needs.get(name, ()))' \
      'open("/build/runtime.lock", "w").writelines(blocks[n] for n in sorted(keep & blocks.keys()))' \
      'print("left out (dev only):", " ".join(sorted(blocks.keys() - keep)))' \
      > /tmp/runtime_lock.py; \
    /opt/relman/bin/python /tmp/runtime_lock.py; \
    /opt/relman/bin/pip install --no-cache-dir --disable-pip-version-check \
      --require-hashes -r /build/runtime.lock
# relman itself, without dependencies: they are exactly the locked ones above; `pip check`
# proves none is missing. Then pip (and the setuptools a 3.11 venv brings) go: nothing
# installs into the image at run time.
COPY . /build/
RUN set -eu; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    /opt/relman/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /build; \
    /opt/relman/bin/pip check --disable-pip-version-check; \
    /opt/relman/bin/python -m pip uninstall -q -y pip setuptools

FROM ${BASE_IMAGE}
# Only settings without a seed alias are set: RELMAN_PORT would shadow the seed's
# LOOM_RELEASE_TG_BOT_PORT (RELMAN_* wins), and relman's own defaults for the port (8000)
# and the prefix (/api/tg-bot) are the seed's. No VOLUME: it would leave an anonymous volume
# behind every `docker run`; compose.yaml names the volumes.
ENV PATH=/opt/relman/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RELMAN_HOST=0.0.0.0 \
    RELMAN_CONFIG=/etc/relman/relman.toml \
    RELMAN_LOG_ROOT=/var/log/deployments \
    RELMAN_EVIDENCE_ROOT=/var/lib/relman/evidence
EXPOSE 8000
# No curl in the image: Python asks {prefix}/health, the port and prefix resolved by relman's
# own Settings (RELMAN_* or the seed's LOOM_RELEASE_TG_BOT_*, default /api/tg-bot), so the
# check follows the server's configuration; a 503 (database down) raises: unhealthy.
# Seed 003's numbers: every 30 s, 10 s timeout, 3 retries.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/opt/relman/bin/python", "-c", "import urllib.request; from relman.config import Settings; s = Settings(); h = '127.0.0.1' if s.host in ('0.0.0.0', '::', '') else s.host; h = f'[{h}]' if ':' in h else h; urllib.request.urlopen(f'http://{h}:{s.port}{s.prefix}/health', timeout=8)"]
# The migrations run at start, before the server listens (one relman per database).
CMD ["relman", "serve", "--migrate"]
WORKDIR /var/lib/relman
# A fixed uid/gid (not a system one), so files on the volumes keep their owner across
# rebuilds, and a mounted SSH key can be given to it: chown 10001.
RUN groupadd --gid 10001 relman \
 && useradd --uid 10001 --gid relman --no-log-init --no-create-home \
      --home-dir /var/lib/relman --shell /usr/sbin/nologin relman \
 && mkdir -p /etc/relman /var/log/deployments /var/lib/relman/evidence \
 && chown relman:relman /var/lib/relman /var/log/deployments /var/lib/relman/evidence
USER relman
COPY --from=builder /opt/relman /opt/relman
