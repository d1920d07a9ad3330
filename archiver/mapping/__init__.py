"""Migration mapping files: every account- and region-specific value a restore elsewhere changes.

``restore --mapping FILE`` reads a YAML (or JSON) document validated by
``schemas/restore-mapping.schema.json`` (example: ``examples/restore-mapping.yaml``): accounts,
regions, ECR registries and repository prefixes, Secrets Manager ``credentialArn``\\ s of registry
mappings, CodeConnections ``connectionArn``\\ s, and the staging bucket and its owner. It is a
subpackage of its own because the file is a user-facing format with its own schema; applying it is
the rewriting code's job (:class:`archiver.restore.EcrMapping`).
"""

from __future__ import annotations

from ._file import MappingFile, load_mapping

__all__ = ["MappingFile", "load_mapping"]
