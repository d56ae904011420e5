"""The platform service: storage-backed items, decisions, auth, audit and the web API/UI.

The library parts (``audit``, ``auth``, ``items``) need no web framework; ``app`` builds the
FastAPI application (``pip install 'pyosi[service]'``).
"""
