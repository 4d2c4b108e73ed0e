"""``@late()`` functions of an untrusted index run in a context only.

A definition from an index is data; the code it may carry (``commands`` and ``@late()``
functions of attributes rez reads after a solve: ``tools``, ``help``, ``tests``...) runs no
earlier than a context is built from it, as the package's own ``commands`` would. rez itself
evaluates a late function wherever the attribute is read, with or without a context:
``rez search --format '{tools}'`` listed a family and ran the index's ``tools()`` on the way.
Here such a function, handed to rez by the plugin, is evaluated only when rez gives it a
context (``in_context()``); read elsewhere it gives None, said once, and runs nothing.
"""

from __future__ import annotations

from typing import Any

from rez.utils.sourcecode import SourceCode

from rezwheel.resolve.definitions import warn_once


class ContextOnly(SourceCode):
    """A late-bound function from an untrusted index: run only inside a context."""

    @classmethod
    def of(cls, code: SourceCode) -> "ContextOnly":
        other = cls.__new__(cls)
        other.__dict__.update(code.__dict__)
        return other

    def copy(self) -> "ContextOnly":
        return ContextOnly.of(self)

    def exec_(self, globals_: Any = None) -> Any:
        globals_ = {} if globals_ is None else globals_
        if "context" not in globals_:  # rez sets it when the package is in a context
            pkg = getattr(getattr(self, "package", None), "qualified_name", "a package")
            warn_once(f"rezwheel: {pkg}: @late() {self.funcname}() comes from an index and runs "
                      "only in a context (rez env), not while listing")
            return None
        return super().exec_(globals_=globals_)


def _shown_as_source() -> None:
    """rez's YAML dumper (``rez view``, contexts) picks a representer by exact type."""
    try:
        from rez.utils.yaml import _Dumper

        _Dumper.add_representer(ContextOnly, _Dumper.represent_sourcecode)
    except (ImportError, AttributeError):  # another rez: shown as rez shows unknown objects
        pass


_shown_as_source()


def context_only(data: dict) -> dict:
    """``data`` with each late-bound function wrapped (``ContextOnly``)."""
    return {k: ContextOnly.of(v) if type(v) is SourceCode and v.late_binding else v
            for k, v in data.items()}
