"""Privacy: pseudonymisation and erasure; consent records, encryption, retention and subject requests next.

What belongs here: what protects a person's data across the platform (the keyed pseudonyms every
identifier gets at the door, erasure on request). It sits above ``store`` and ``contracts`` and
below the services that call it; private file permissions are the store's (``store.files``).
"""
