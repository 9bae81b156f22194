"""A Spark standalone cluster: ``rest`` is the master's REST submission server (cluster
deploy mode: drivers run on the workers), ``master`` its state from the web UI."""
