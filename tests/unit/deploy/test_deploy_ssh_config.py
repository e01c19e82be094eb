"""A mistake in an ssh host's configuration is a one-line TransportError, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from relman.config import Host
from relman.deploy.errors import TransportError
from relman.deploy.ssh import SshTransport


async def test_a_key_file_that_is_no_private_key_is_a_transport_error(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not a key\n")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.touch()
    # the key is read before any connection is attempted: port 9 is never reached
    host = Host(address="127.0.0.1", port=9, key_file=key, known_hosts=known_hosts)
    transport = SshTransport(host, "web1")
    with pytest.raises(TransportError, match=r"^host web1 \(127\.0\.0\.1:9\): cannot use key_file"):
        await transport.run(["true"], cwd=None, env=None, timeout=5, on_line=lambda _l: None)
    await transport.close()
