"""A person's requests about their own data (PIPL Art. 44-47 and 24): export what is held,
correct it, erase it, or object to an automated decision, each on the record with a deadline.

It sits in ``decision`` because it reads everything the services below hold about a person
(identity, consents, features, scores, decisions, loans, alerts) and opens reviews in the
decision review queue; ``privacy`` below it supplies erasure, decryption and the access log.
"""
