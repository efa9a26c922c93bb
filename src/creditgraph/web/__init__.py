"""The web workspace for the people who run the lender: officers, analysts, auditors, admins.

Server-rendered pages (Jinja2, partial updates with htmx) beside the HTTP API, with their own
users, password log-in, session cookies and CSRF tokens; API keys stay for machines. Every page
works without JavaScript except the drawing of the credit graph. Read-only services below this
layer supply the figures; this package decides who may see them and how they read.
"""
