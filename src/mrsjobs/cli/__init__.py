"""The ``mrsjobs`` command: a client of the HTTP API, ``serve``, and admin commands."""
