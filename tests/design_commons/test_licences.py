"""The licence registry: what the commons accepts, what it refuses and why."""
from __future__ import annotations

import pytest

from design_commons.licences import (
    LAB_KINDS,
    LicenceRefused,
    License,
    all_licences,
    check_open,
    excluded_lab_kinds,
    lookup,
    refused_licences,
)

REQUIRED_OPEN = [
    "CERN-OHL-S-2.0", "CERN-OHL-W-2.0", "CERN-OHL-P-2.0", "CC-BY-4.0", "CC-BY-SA-4.0",
    "CC0-1.0", "GPL-2.0-or-later", "GPL-3.0-or-later", "GPL-2.0-only", "GPL-3.0-only",
    "LGPL-2.1-or-later", "LGPL-3.0-or-later", "MIT", "BSD-2-Clause", "BSD-3-Clause",
    "Apache-2.0", "TAPR-OHL-1.0", "SHL-0.5", "SHL-0.51", "SHL-2.0", "SHL-2.1", "MPL-2.0",
    "CERN-OHL-1.2", "LicenseRef-PPL",
]


@pytest.mark.parametrize("spdx_id", REQUIRED_OPEN)
def test_open_licences_are_accepted(spdx_id: str) -> None:
    lic = check_open(spdx_id)
    assert lic.id == spdx_id
    assert lic.open
    assert lic.kind in ("hardware", "content", "software")
    assert lic.summary.endswith(".") and len(lic.summary) < 200
    assert lic.url.startswith("https://")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("cern-ohl-s-2.0", "CERN-OHL-S-2.0"), ("  mit ", "MIT"), ("APACHE-2.0", "Apache-2.0"),
     ("licenseref-ppl", "LicenseRef-PPL"), ("GPL-2.0+", "GPL-2.0-or-later"),
     ("GPL-3.0", "GPL-3.0-only"), ("cc0-1.0", "CC0-1.0")],
)
def test_lookup_is_case_insensitive_and_canonical(given: str, canonical: str) -> None:
    assert lookup(given).id == canonical


@pytest.mark.parametrize(
    ("spdx_id", "code"),
    [("CC-BY-NC-4.0", "licence_non_commercial"), ("cc-by-nc-sa-4.0", "licence_non_commercial"),
     ("CC-BY-NC-ND-3.0", "licence_non_commercial"),
     ("CC-BY-NC-SA-2.0-UK", "licence_non_commercial"),
     ("CC-BY-ND-4.0", "licence_no_derivatives"), ("CC-BY-ND-2.5", "licence_no_derivatives"),
     ("proprietary", "licence_not_open"), ("All Rights Reserved", "licence_not_open"),
     ("NOASSERTION", "licence_not_open"), ("WTFPL-but-not-really", "licence_unknown"),
     ("", "licence_unknown")],
)
def test_refused_licences_carry_a_stable_code_and_a_reason(spdx_id: str, code: str) -> None:
    with pytest.raises(LicenceRefused) as caught:
        check_open(spdx_id)
    assert caught.value.code == code
    assert "open designs only" in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_non_commercial_message_explains_the_refusal_plainly() -> None:
    with pytest.raises(LicenceRefused) as caught:
        check_open("cc-by-nc-4.0")
    assert caught.value.reason == (
        "CC-BY-NC-4.0 forbids commercial use, so no fablab could be paid to make it; "
        "the commons holds open designs only."
    )


def test_lookup_knows_refused_cc_licences_but_marks_them_not_open() -> None:
    lic = lookup("CC-BY-NC-SA-4.0")
    assert not lic.open and not lic.commercial_use and lic.share_alike
    assert lookup("CC-BY-ND-4.0").commercial_use


def test_lookup_raises_for_unknown_ids() -> None:
    with pytest.raises(LicenceRefused) as caught:
        lookup("Beerware-42")
    assert caught.value.code == "licence_unknown"
    assert caught.value.spdx_id == "Beerware-42"


def test_excluded_lab_kinds() -> None:
    assert excluded_lab_kinds(lookup("LicenseRef-PPL")) == {"company"}
    assert excluded_lab_kinds("CC-BY-NC-4.0") == {"company"}
    assert excluded_lab_kinds(lookup("CERN-OHL-S-2.0")) == set()
    assert excluded_lab_kinds("MIT") == set()
    assert excluded_lab_kinds("LicenseRef-PPL") <= LAB_KINDS


def test_ppl_is_open_but_not_for_companies() -> None:
    ppl = check_open("LicenseRef-PPL")
    assert ppl.open and ppl.share_alike and not ppl.commercial_use
    assert ppl.excluded_lab_kinds == frozenset({"company"})
    assert "cooperatives" in ppl.summary


def test_share_alike_and_commercial_flags() -> None:
    assert lookup("CERN-OHL-S-2.0").share_alike
    assert lookup("CC-BY-SA-4.0").share_alike
    assert not lookup("CERN-OHL-P-2.0").share_alike
    assert not lookup("MIT").share_alike
    assert all(lic.commercial_use for lic in all_licences() if lic.id != "LicenseRef-PPL")


def test_to_api_has_the_api_fields() -> None:
    data = lookup("cern-ohl-w-2.0").to_api()
    assert data["id"] == "CERN-OHL-W-2.0"
    assert {"id", "name", "open", "commercial_use", "share_alike", "url", "summary"} <= data.keys()
    assert data["open"] is True


def test_all_licences_for_pickers() -> None:
    licences = all_licences()
    ids = [lic.id for lic in licences]
    assert len(ids) == len(set(ids))
    assert set(REQUIRED_OPEN) <= set(ids)
    assert all(isinstance(lic, License) and lic.open for lic in licences)
    with_refused = all_licences(include_refused=True)
    assert {"CC-BY-NC-4.0", "CC-BY-ND-4.0"} <= {lic.id for lic in with_refused}


def test_refused_list_names_every_code() -> None:
    codes = {r.code for r in refused_licences()}
    assert codes == {"licence_non_commercial", "licence_no_derivatives", "licence_not_open",
                     "licence_unknown"}
    assert all(r.reason for r in refused_licences())
