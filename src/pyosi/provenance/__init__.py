"""Provenance: C2PA Content Credentials (c2pa-python), XMP digital source types, signing
identities, generator watermarks of others, and the manifest store behind durable credentials.

    from pyosi.provenance.credentials import read_credentials, sign, ai_manifest, Generation
    from pyosi.provenance.identity import Identity, init_development
    from pyosi.provenance.store import ManifestStore
"""
