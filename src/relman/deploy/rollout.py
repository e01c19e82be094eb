"""Rolling deploys: which hosts change together (issue "Fast relman" item 4).

Pure: the engine changes one batch at a time, each health-gated, and stops once more than
``max_fail`` hosts have failed. Ansible's ``serial`` and ``max_fail_percentage`` and
Kamal's ``boot.limit`` are the same idea.
"""

from __future__ import annotations

from collections.abc import Sequence

from relman.domain.errors import InvalidInput


def plan_batches(hosts: Sequence[str], batch_size: int | None) -> list[list[str]]:
    """``hosts`` in order, cut into batches of ``batch_size`` (the last may be smaller);
    ``None`` puts every host in one batch.

    Raises :class:`InvalidInput` (field ``batch_size``) for a size below 1.
    """
    if batch_size is None:
        return [list(hosts)] if hosts else []
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(
            "batch_size", f"must be a whole number of hosts, 1 or more: {batch_size!r}"
        )
    return [list(hosts[i : i + batch_size]) for i in range(0, len(hosts), batch_size)]
