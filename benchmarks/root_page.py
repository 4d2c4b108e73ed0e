"""A root page listing many projects, read as ``rez search`` reads it: `python benchmarks/root_page.py [N] [ROUNDS]`.

Builds a PEP 503 root of N plain anchors (default 10^6, about PyPI's size) and times
``parse_root_page`` on it ROUNDS times (default 3), printing the best, against the HTML parser
alone on the same text (the way every root was read before the plain-anchor path): the ratio
is the figure (about 6x on a loaded 2-core machine; the parser alone took 12 s).
"""

import sys
import time

from rezwheel.index.pages import _Links, parse_root_page


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    body = ("<html><body>\n" + "".join(f'<a href="p{i}/">p{i}</a>\n' for i in range(n))
            + "</body></html>\n").encode()
    best_new = best_old = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        names = parse_root_page(body, "text/html")
        best_new = min(best_new, time.perf_counter() - t)
        t = time.perf_counter()
        parser = _Links()
        parser.feed(body.decode())
        best_old = min(best_old, time.perf_counter() - t)
        assert len(names) == n
    print(f"{n} projects: parse_root_page {best_new:.2f} s, HTML parser alone {best_old:.2f} s,"
          f" ratio {best_old / best_new:.1f}x")


if __name__ == "__main__":
    main()
