"""The local cluster: jobs as process trees on this host, each under a detached shim
and in its project's sandbox. ``engine`` is the engine; ``commands`` turns a job into
its command line; ``metastore`` and ``mapreduce`` are the Hive metastore and the
MapReduce runner that the commands use."""
