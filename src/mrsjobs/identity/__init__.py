"""Who is calling: accounts and tokens, AK/SK request signing, the server's key and
password hashing, and the throttling of sign-ins. No HTTP."""
