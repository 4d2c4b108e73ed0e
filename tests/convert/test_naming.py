from hypothesis import assume, example, given, strategies as st
from packaging.version import Version
from rez.version import Version as RezVersion

from rezwheel.artifact import naming

TABLE = [
    ("1.0.0", "1.0.0"),
    ("1.0", "1.0"),
    ("1.0.1", "1.0.1"),
    ("1.0.0.rc1", "1.0.0+rc.1"),
    ("1.0.0.rc10", "1.0.0+rc.10"),
    ("2.5.beta", "2.5+beta"),
    ("2023.01", "2023+x0.2e3031"),  # zero padding has no PEP 440 form: escaped, exact
    ("1.0.RC1", "1.0+x0.2e524331"),  # upper case would be folded: escaped
    ("alpha", "0+x0.616c706861"),
    ("", "0+x0"),  # unversioned
    ("2026.10.19.post1", "2026.10.19.post1"),  # rez-pip's form of a PyPI post release
    ("1.0.post0", "1.0.post0"),
    ("1.0.post01", "1.0+x0.2e706f73743031"),  # not as PEP 440 writes it: the general rules
]


def test_table_maps_and_reverses():
    for rez_v, pep in TABLE:
        assert naming.rez_to_pep440(rez_v) == pep
        assert str(Version(pep)) == pep  # already normalized: it is what file names carry
        assert naming.pep440_to_rez(pep) == rez_v


def test_sample_family_keeps_rez_order():
    family = ["1.0.0.rc1", "1.0.0", "1.0.1", "1.0"]
    by_rez = sorted(family, key=RezVersion)
    assert by_rez == ["1.0", "1.0.0", "1.0.0.rc1", "1.0.1"]  # not PEP 440's order
    peps = [Version(naming.rez_to_pep440(v)) for v in by_rez]
    assert peps == sorted(peps)
    assert len({naming.rez_to_pep440(v) for v in family}) == 4
    published = naming.FamilyVersions()
    for v in family:
        assert published.problem(v) is None
        published.add(v)


def test_family_problems_reported():
    # the escaped form orders by its public part only: rez says 1.0.RC1 < 1.0.rc1
    problem = naming.FamilyVersions(["1.0.rc1", "1.0.0"]).problem("1.0.RC1")
    assert problem and "1.0.RC1" in problem and "PEP 440 orders" in problem, problem


def _brute_force_problem(family, new):
    """The definition: a PEP 440 collision with ``new``, or a version that rez and PEP 440
    order differently with respect to ``new`` (rez-equal spellings have no order to keep)."""
    if new in family:
        return None
    rn, pn = RezVersion(new), Version(naming.rez_to_pep440(new))
    if any(naming.rez_to_pep440(v) == naming.rez_to_pep440(new) for v in family):
        return "collision"
    for v in family:
        rv, pv = RezVersion(v), Version(naming.rez_to_pep440(v))
        if (rv < rn and pv > pn) or (rv > rn and pv < pn):
            return "order"
    return None


token = st.from_regex(r"[a-zA-Z0-9_]{1,6}", fullmatch=True)
rez_versions = st.builds(
    lambda toks, seps: "".join(t + s for t, s in zip(toks, seps))[:-1] if toks else "",
    st.lists(token, max_size=5), st.lists(st.sampled_from([".", "-"]), min_size=5, max_size=5))
natural = st.lists(st.one_of(st.integers(0, 30).map(str),
                             st.from_regex(r"[a-z]{1,3}(0|[1-9][0-9]?)?", fullmatch=True)),
                   min_size=0, max_size=3)


@given(rez_versions, rez_versions)
def test_mapping_is_injective_and_reversible(a, b):
    pa, pb = naming.rez_to_pep440(a), naming.rez_to_pep440(b)
    assert naming.pep440_to_rez(pa) == a
    if a != b:
        assert pa != pb


@given(st.lists(st.integers(0, 20).map(str), min_size=1, max_size=3), natural, natural)
def test_natural_versions_keep_rez_order(prefix, rest_a, rest_b):
    a = ".".join(prefix + rest_a)
    b = ".".join(prefix + rest_b)
    ra, rb = RezVersion(a), RezVersion(b)
    pa, pb = Version(naming.rez_to_pep440(a)), Version(naming.rez_to_pep440(b))
    if ra < rb and pa.public == pb.public and "x0" not in str(pa) + str(pb):
        assert pa < pb, (a, b)


def test_requirements():
    r = naming.request_to_requirement
    assert r("foo-1.2+<2") == "foo>=1.2,<2"
    assert r("foo-1.2") == "foo==1.2.*"
    assert r("foo==1.2") == "foo==1.2"
    assert r("foo", prefix="rez-") == "rez-foo"
    assert r("~foo-1") is None and r("!foo") is None and r(".foo-1") is None
    assert r("python-3.9") is None and r("platform-linux") is None
    assert naming.python_requirement(["3.9"]) == "==3.9.*"


def test_dist_name():
    assert naming.dist_name("My_Tool", prefix="studio-") == "studio-my-tool"
    assert naming.dist_name("tabulate", prefix="studio-", pip_name="tabulate (0.9.0)") == "tabulate"


@example(["A.000.00000.A0.0000", "A-000.00000.A0-0000"], "A.0")  # rez-equal neighbours
@example(["A-000.00000.A0-0000", "A.000.00000.A0.0000"], "A.0")
@given(st.lists(rez_versions, max_size=12), rez_versions)
def test_family_check_matches_the_definition(family, new):
    """The incremental check (bisect over neighbours) says what the whole-family definition
    says, for families that were consistent to begin with."""
    published = naming.FamilyVersions()
    for v in family:
        if published.problem(v) is None:
            published.add(v)
    kept = [v for v in family if v in published]
    # rez-equal spellings (1.0 / 1-0) have no order between them: either answer is fine
    assume(new in kept or all(RezVersion(v) != RezVersion(new) for v in kept))
    got = published.problem(new)
    want = _brute_force_problem(kept, new)
    assert (got is None) == (want is None), (kept, new, got, want)
    if got:
        assert ("both map" in got) == (want == "collision"), (kept, new, got, want)
