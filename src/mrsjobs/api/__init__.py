"""The HTTP surface: one module per API, the error map, and the app that wires them."""
