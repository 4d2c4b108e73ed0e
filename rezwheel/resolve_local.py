"""Looking up an exact rez request (``name==version``) in a local directory index.

Names and versions come from file names alone (the version mapping is reversible), so no
artifact is opened to find one. Dependency resolution through rez's solver comes with the plugin.
"""

from __future__ import annotations

import os

from packaging.utils import parse_wheel_filename

from . import naming
from .errors import RezwheelError
from .index.local import LocalIndex


def find_in_index(index_dir: str, request: str, prefix: str = "") -> list[str]:
    """Every variant's wheel of ``name==version`` in the index."""
    if "==" not in request:
        raise RezwheelError(f"{request}: give an exact request name==version "
                            "(resolving ranges comes with the rez plugin)")
    name, version = request.split("==", 1)
    project = naming.dist_name(name.strip(), prefix)
    wanted = version.strip()
    found = [w for w in LocalIndex(index_dir).wheels(project)
             if naming.pep440_to_rez(str(parse_wheel_filename(os.path.basename(w))[1])) == wanted]
    if not found:
        raise RezwheelError(f"{request}: not found in the index {os.path.abspath(index_dir)}")
    return found
