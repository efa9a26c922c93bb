"""Privacy: pseudonymisation now; consent records, encryption, retention and subject requests next."""
