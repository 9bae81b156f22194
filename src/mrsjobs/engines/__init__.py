"""Engines run jobs: the port in ``base``, a memory fake in ``memory``, and one
package per real engine (``local``: processes on this host)."""
