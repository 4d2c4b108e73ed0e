import sys

from pyutil import __version__, slug


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--version"]:
        print("pyutil", __version__)
    else:
        print(slug(" ".join(argv)))
    return 0
