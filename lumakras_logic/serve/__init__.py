"""`lumakras serve`: a local HTTP service and page over the same Decider the CLI uses (docs/serve.md).

A face, like cli/: it imports core (and nothing imports it); its third-party packages (Starlette, uvicorn,
python-multipart) are imported only when the service runs.
"""
