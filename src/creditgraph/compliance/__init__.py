"""Compliance as running code: a versioned pack of legal limits per jurisdiction, a check that
compares the configuration in force with it and names the code and test behind each
requirement, and fairness monitoring over the decisions actually made.

It sits beside console, backtest and monitoring: it reads the decision configuration and the
database, and nothing below it reads compliance.
"""
