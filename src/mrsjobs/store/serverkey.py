"""The server key that instances of one database share: its fingerprint is stored
on first start, so an instance with another key is caught before it answers a
request (it could not open the secret keys the others sealed)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, select

from ..domain.clock import now_ms
from .store import Store
from .tables import access_keys, service_facts

FINGERPRINT = "server_key_fingerprint"


def agree_on_key(store: Store, fingerprint: str, opens: Callable[[str], bool]) -> bool:
    """True if ``fingerprint`` is the database's server key fingerprint, or is made so
    now (the first instance to ask; if secret keys were sealed before fingerprints
    were kept, only a key that ``opens`` one of them). Instances starting at once
    decide in turn."""
    with store.serialized() as conn:
        stored = conn.execute(select(service_facts.c.value)
                              .where(service_facts.c.name == FINGERPRINT)).scalar()
        if stored is not None:
            return bool(stored == fingerprint)
        sealed = conn.execute(select(access_keys.c.secret_sealed).limit(1)).scalar()
        if sealed is not None and not opens(sealed):
            return False
        conn.execute(insert(service_facts).values(name=FINGERPRINT, value=fingerprint,
                                                  created_ms=now_ms()))
        return True
