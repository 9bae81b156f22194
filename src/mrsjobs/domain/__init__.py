"""The job model and its rules, with no I/O: states and transitions (``jobs``), who
may do what (``access``), the exception tree (``errors``), what a job may ask of
its runtime (``options``), where its files may be (``paths``) and the rules every
submitted job follows (``submit``)."""
