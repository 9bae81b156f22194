"""Keeping the jobs of one project away from everything else on this host: a user and
a network namespace per project (``tenants``), the bubblewrap sandbox (``sandbox``)
and what this host can do of both (``host``)."""
