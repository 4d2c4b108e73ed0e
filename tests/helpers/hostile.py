"""What the hostile tests (tests/hostile) share besides fixtures: the canary token their
servers must never leak, and the sample wheels their indexes serve."""

from __future__ import annotations

#: the token the hostile servers accept: any form of it in output or files is a leak
TOKEN = "CANARY-TOKEN-3f9a7e1c0b5d"

#: versions of one family that normalise alike (1.0, 1.0.0, a local version) and one after
RELFAM = ["relfam-1.0-py3-none-any.whl", "relfam-1.0.0-py3-none-any.whl",
          "relfam-1.0.0+rc.1-py3-none-any.whl", "relfam-1.0.1-py3-none-any.whl"]
PYUTIL = "pyutil-1.2.0-py3-none-any.whl"
#: what a resolve of relfam also needs
BASE = ["python-3.11-py3-none-any.whl", "python-3.9-py3-none-any.whl", PYUTIL,
        "sitedata-2023+x0.2e3031-py3-none-any.whl"]
