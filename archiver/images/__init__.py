"""Container images of workflows: which images a definition uses, and what they are in ECR.

HealthOmics runs only images from private ECR in the workflow's region, so a restorable backup must
know them. This package finds every image a workflow or version names (WDL runtime sections,
Nextflow ``container`` directives and config files, CWL ``DockerRequirement``, the
``containerRegistryMap``), works out the private ECR image HealthOmics pulls for each, and resolves
its manifest digest through ECR (``BatchGetImage``, once per image per run). The result is the
``images`` object of a bundle manifest (docs/format.md).

    scan (_scan: _wdl, _nextflow, _cwl) ──► mappings (_inventory, _refs) ──► ECR (_resolve)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._found import Occurrence
from ._inventory import build_inventory
from ._refs import EcrImage, normalize, parse_ecr
from ._scan import Checked, Scan, check_and_scan, scan_definition
from ._stored import ImagesChecked, verify_images
from ._stored import unreferenced as unreferenced_blobs

if TYPE_CHECKING:
    from ._archive import archive_images, bundle_images, read_bundle_manifest
    from ._readiness import Readiness, prepare_images
    from ._resolve import EcrResolver, EcrSettings, Resolution, ecr_settings, open_ecr_resolver

# Imported on first use: these talk to ECR, so they import botocore and aiobotocore, which a command
# that only reads a file store (list, show, verify) never needs.
__getattr__ = lazy_names(
    __name__,
    {
        "archive_images": "_archive",
        "bundle_images": "_archive",
        "read_bundle_manifest": "_archive",
        "Readiness": "_readiness",
        "prepare_images": "_readiness",
        "EcrResolver": "_resolve",
        "EcrSettings": "_resolve",
        "Resolution": "_resolve",
        "ecr_settings": "_resolve",
        "open_ecr_resolver": "_resolve",
    },
)

__all__ = [
    "Checked",
    "EcrImage",
    "EcrResolver",
    "EcrSettings",
    "ImagesChecked",
    "Occurrence",
    "Readiness",
    "Resolution",
    "Scan",
    "archive_images",
    "build_inventory",
    "bundle_images",
    "check_and_scan",
    "ecr_settings",
    "normalize",
    "open_ecr_resolver",
    "parse_ecr",
    "prepare_images",
    "read_bundle_manifest",
    "scan_definition",
    "unreferenced_blobs",
    "verify_images",
]
