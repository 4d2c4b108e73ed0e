"""A project page ``index.local`` wrote is read without the HTML parser, to the same files;
anything else (or anything more) is read by the parser."""

import pytest


def _both(body: bytes):
    from rezwheel.index import pages

    url = "http://127.0.0.1:1/simple/fam/"
    parser = pages._Links()
    parser.feed(body.decode())
    fast = pages._written_links(body.decode())
    return fast, parser.links, pages.parse_project_page(body, "text/html", url, lambda u: True)


def _page(links: str) -> bytes:
    return ('<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
            'content="1.1">\n    <title>Links for fam</title>\n  </head>\n  <body>\n'
            f'    <h1>Links for fam</h1>\n{links}\n  </body>\n</html>\n').encode()


SHA = "a" * 64
LINK = (f'    <a href="../../files/fam-1.0-py3-none-any.whl#sha256={SHA}" '
        f'data-dist-info-metadata="sha256={SHA}" data-core-metadata="sha256={SHA}" '
        'data-requires-python="&gt;=3.9">fam-1.0-py3-none-any.whl</a><br/>')


YANKED = LINK.replace('">fam-1.0', '" data-yanked="bad &amp; &quot;old&quot;">fam-1.0')


@pytest.mark.parametrize("links", [LINK, LINK + "\n" + LINK.replace("1.0", "2.0"), "", YANKED,
                                   YANKED.replace('="bad &amp; &quot;old&quot;"', '=""'),
                                   f'    <a href="../../files/fam-1.0.tar.gz#sha256={SHA}">'
                                   'fam-1.0.tar.gz</a><br/>'])
def test_written_page_reads_as_the_parser_reads_it(links):
    fast, slow, files = _both(_page(links))
    assert fast is not None and fast == slow
    assert len(files) == len(slow)


@pytest.mark.parametrize("links", [
    LINK.replace(">fam-1.0", ">fam&#45;1.0"),  # a reference: the parser's to read
    LINK + "<!-- -->",
    LINK.replace("<br/>", "<br/><a href='x'>y</a>"),
    LINK.replace('data-requires', 'data-requiresx'),
])
def test_anything_else_goes_to_the_parser(links):
    fast, slow, _ = _both(_page(links))
    assert fast is None and slow


def test_a_written_yank_reads_back_with_its_reason():
    """What ``index.local`` writes for a yanked file (a mirror's marker) is read back by the
    fast path as the parser reads it: yanked, with its reason unescaped."""
    from rezwheel.index import pages

    link = pages.written_link(f"../../files/fam-1.0-py3-none-any.whl#sha256={SHA}",
                              "fam-1.0-py3-none-any.whl", SHA, ">=3.9", 'bad & "old"')
    fast, slow, files = _both(_page(link))
    assert fast is not None and fast == slow
    assert [f.yanked for f in files] == ['bad & "old"']
    link = pages.written_link(f"../../files/fam-1.0-py3-none-any.whl#sha256={SHA}",
                              "fam-1.0-py3-none-any.whl", yanked="")
    fast, slow, files = _both(_page(link))
    assert fast is not None and fast == slow and [f.yanked for f in files] == [""]
