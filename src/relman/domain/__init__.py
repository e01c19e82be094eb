"""The domain: releases, statuses, transitions, versions, policy. No I/O, no frameworks."""
