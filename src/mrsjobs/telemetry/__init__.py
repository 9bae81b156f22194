"""What the service measures and how it logs, for operators: the Prometheus instruments
each part of the service observes (:mod:`.instruments`), and the log line format with
the request's and job's context (:mod:`.logs`). Below every other layer, so that the
store, identity and the supervisor can all observe; nothing here does I/O of its own."""
