"""The HTTP surface: one module per API (``v2``, ``v11``, ``sahara``, ``keystone``,
``files``), each with its request models, query parsing, response shapes and error
envelope; what they share on the wire (``wire``); the one error map (``errors``); and
the app that assembles them (``app``)."""
