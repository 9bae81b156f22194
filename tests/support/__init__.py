"""What the tests and the benchmarks share: condition waits and free ports
(``waiting``), process-tree inspection through ``/proc`` (``procs``) and a real
``mrsjobs serve`` subprocess (``server``), and a Spark standalone cluster across network namespaces
(``netns``, ``spark_cluster``). No pytest here: the benchmarks import it."""
