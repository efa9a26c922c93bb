"""The HTTP edge's request and response models, one module per resource.

Request models are strict (what the OpenAPI schema says is exactly what is accepted); response
models describe what the services return, so the schema documents every answer. The hot routes
send the services' own JSON as it is: a response model is declared for the schema, not run.
"""
