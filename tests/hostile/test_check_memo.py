"""A check that passed is not made again for an identical value (``artifact.checkmemo``), and only
for an identical one: a forged value that differs in type or content alone is still refused."""

import pytest

from rezwheel.errors import UnsafeDefinitionError


def _read(body: str):
    from rezwheel.artifact.rezdef import Definition

    return Definition.read(f'name = "memo"\nversion = "1.0"\n{body}', "memo.whl:rez-package.py")


@pytest.mark.parametrize("good, forged", [
    ("relocatable = True", "relocatable = 1"),  # True == 1 in Python: not to the memo
    ("timestamp = 1", "timestamp = 1.0"),
    ("timestamp = 1", 'timestamp = "1"'),
    ('authors = ["a"]', 'authors = ["a", 1]'),
    ('authors = ["a"]', 'authors = [["a"]]'),
    ('description = "x"', 'description = ["x"]'),
    ('tools = ["t"]', 'tools = {"t": 1}'),
    ('requires = ["foo-1"]', 'requires = ["foo-1", "../x"]'),
    # a variant names a directory: it must print back as written; a requirement need not
    ('requires = ["foo-1|1"]', 'variants = [["foo-1|1"]]'),
])
def test_a_value_like_one_that_passed_is_still_checked(good, forged):
    for _ in range(2):  # the second time from the memo
        _read(good)
    with pytest.raises(UnsafeDefinitionError):
        _read(forged)


def test_canonical_form_tells_types_and_contents_apart():
    from rezwheel.artifact.checkmemo import canonical

    values = [1, True, 1.0, "1", [1], (1,), {"1": 1}, {1: 1}, [True], 0.0, -0.0, None, "",
              [], ()]
    forms = [canonical(v) for v in values]
    assert None not in forms and len(set(forms)) == len(values)
    assert canonical(object()) is None and canonical([object()]) is None
    nested = []
    for _ in range(100):
        nested = [nested]
    assert canonical(nested) is None  # too deep to spell: checked every time
