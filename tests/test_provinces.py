"""Tests for the Thai province reference data and lookups."""

import json
from importlib import resources

import pytest

from chatcrm.provinces import (
    UNKNOWN_PROVINCE,
    Province,
    all_provinces,
    find_province,
    normalize_province,
    province_for_postal_code,
)


def _raw_entries():
    text = resources.files("chatcrm").joinpath("data/provinces.json").read_text(encoding="utf-8")
    return json.loads(text)["provinces"]


def test_there_are_exactly_77_provinces():
    provinces = all_provinces()
    assert len(provinces) == 77
    assert all(isinstance(p, Province) for p in provinces)


def test_codes_and_names_are_unique():
    provinces = all_provinces()
    assert len({p.code for p in provinces}) == 77
    assert len({p.name_en for p in provinces}) == 77
    assert len({p.name_th for p in provinces}) == 77


def test_codes_are_iso_3166_2_th():
    codes = {p.code for p in all_provinces()}
    expected = (
        set(range(10, 28))
        | set(range(30, 50))
        | set(range(50, 59))
        | set(range(60, 68))
        | set(range(70, 78))
        | set(range(80, 87))
        | set(range(90, 97))
    )
    assert codes == {f"TH-{n}" for n in expected}


def test_all_provinces_is_sorted_by_english_name_and_stable():
    names = [p.name_en for p in all_provinces()]
    assert names == sorted(names)
    assert all_provinces() == all_provinces()


def test_province_is_immutable():
    bangkok = find_province("Bangkok")
    with pytest.raises(AttributeError):
        bangkok.name_en = "Elsewhere"


def test_every_province_has_postal_prefixes():
    for province in all_provinces():
        assert province.postal_prefixes
        assert isinstance(province.postal_prefixes, tuple)


def test_every_listed_name_and_alias_finds_its_own_province():
    for entry in _raw_entries():
        for name in (entry["code"], entry["name_en"], entry["name_th"], *entry["aliases"]):
            found = find_province(name)
            assert found is not None, name
            assert found.code == entry["code"], name


@pytest.mark.parametrize(
    ("value", "name_en"),
    [
        ("Bangkok", "Bangkok"),
        ("กรุงเทพมหานคร", "Bangkok"),
        ("เชียงใหม่", "Chiang Mai"),
        ("ภูเก็ต", "Phuket"),
        ("สงขลา", "Songkhla"),
        ("Nakhon Ratchasima", "Nakhon Ratchasima"),
        ("TH-50", "Chiang Mai"),
        ("th-83", "Phuket"),
    ],
)
def test_find_by_thai_english_name_or_code(value, name_en):
    assert find_province(value).name_en == name_en


@pytest.mark.parametrize(
    ("value", "name_en"),
    [
        ("Krung Thep", "Bangkok"),
        ("Bangkok Metropolis", "Bangkok"),
        ("กทม", "Bangkok"),
        ("กทม.", "Bangkok"),
        ("กรุงเทพ", "Bangkok"),
        ("กรุงเทพฯ", "Bangkok"),
        ("Ayutthaya", "Phra Nakhon Si Ayutthaya"),
        ("อยุธยา", "Phra Nakhon Si Ayutthaya"),
        ("Korat", "Nakhon Ratchasima"),
        ("โคราช", "Nakhon Ratchasima"),
        ("Lopburi", "Lop Buri"),
        ("Chonburi", "Chon Buri"),
        ("Sisaket", "Si Sa Ket"),
        ("Phangnga", "Phang Nga"),
    ],
)
def test_find_by_alias(value, name_en):
    assert find_province(value).name_en == name_en


@pytest.mark.parametrize(
    "value",
    [
        "Chiang Mai",
        "Chiang mai",
        "chiangmai",
        "Chiang-Mai",
        "CHIANG MAI",
        "  Chiang Mai  ",
        "Chiang Mai Province",
        "Changwat Chiang Mai",
        "จังหวัดเชียงใหม่",
        "จังหวัด เชียงใหม่",
        "จ.เชียงใหม่",
        "จ. เชียงใหม่",
        " เชียงใหม่ ",
    ],
)
def test_find_ignores_case_spacing_hyphens_and_prefixes(value):
    assert find_province(value).name_en == "Chiang Mai"


@pytest.mark.parametrize("value", ["", "   ", "Province", "จังหวัด", "Atlantis", "Chiang", "10"])
def test_find_unknown_values_give_none(value):
    assert find_province(value) is None


@pytest.mark.parametrize(
    ("postal_code", "name_en"),
    [
        ("10110", "Bangkok"),
        ("10200", "Bangkok"),
        ("10500", "Bangkok"),
        ("10270", "Samut Prakan"),
        ("10540", "Samut Prakan"),
        ("10130", "Samut Prakan"),
        ("11120", "Nonthaburi"),
        ("12120", "Pathum Thani"),
        ("13000", "Phra Nakhon Si Ayutthaya"),
        ("30000", "Nakhon Ratchasima"),
        ("38000", "Bueng Kan"),
        ("50200", "Chiang Mai"),
        ("83000", "Phuket"),
        ("90110", "Songkhla"),
        (" 50200 ", "Chiang Mai"),
        ("๕๐๒๐๐", "Chiang Mai"),
    ],
)
def test_province_for_postal_code(postal_code, name_en):
    assert province_for_postal_code(postal_code).name_en == name_en


def test_samut_prakan_code_wins_over_bangkok_prefix():
    assert province_for_postal_code("10270").name_en == "Samut Prakan"
    assert province_for_postal_code("10260").name_en == "Bangkok"


@pytest.mark.parametrize(
    "postal_code",
    ["5020", "502000", "50a00", "abcde", "", "   ", "50 200", "50-200", "19000", "00000"],
)
def test_bad_or_unassigned_postal_codes_give_none(postal_code):
    assert province_for_postal_code(postal_code) is None


def test_normalize_returns_canonical_english_name():
    assert normalize_province("กทม") == "Bangkok"
    assert normalize_province("  chiang-mai ") == "Chiang Mai"


def test_normalize_prefers_explicit_value_over_postal_code():
    assert normalize_province("Phuket", "50200") == "Phuket"


def test_normalize_falls_back_to_postal_code():
    assert normalize_province(None, "50200") == "Chiang Mai"
    assert normalize_province("", "83000") == "Phuket"
    assert normalize_province("somewhere", "10270") == "Samut Prakan"


def test_normalize_gives_none_when_nothing_is_recognised():
    assert normalize_province(None) is None
    assert normalize_province("somewhere", "1234") is None
    assert normalize_province(None, None) is None


def test_unknown_constant():
    assert UNKNOWN_PROVINCE == "unknown"
