"""The materials vocabulary: aliases, densities with their source, free text kept."""
from design_commons import materials


def test_aliases_come_to_one_name():
    assert materials.canonical("Polylactic acid") == "PLA"
    assert materials.canonical("  pla ") == "PLA"
    assert materials.canonical("PMMA") == "Acrylic" and materials.canonical("perspex") == "Acrylic"
    assert materials.canonical("PA12") == "Nylon" and materials.canonical("polyamide") == "Nylon"
    assert materials.canonical("Medium-density fibreboard") == "MDF"


def test_unknown_materials_stay_free_text_compared_without_case():
    assert materials.canonical("  Walnut   veneer ") == "Walnut veneer"
    assert materials.same("walnut veneer", "WALNUT VENEER")
    assert not materials.same("walnut veneer", "oak veneer")
    assert materials.same("PLA", "polylactic acid") and not materials.same("PLA", "PETG")
    assert materials.density("Walnut veneer") is None


def test_densities_carry_their_source():
    pla = materials.density("pla")
    assert pla is not None and pla.density_g_cm3 == 1.24 and "PrusaSlicer" in pla.source
    assert {m.name: m.density_g_cm3 for m in materials.VOCABULARY if m.name in ("PETG", "ABS", "ASA")} == {
        "PETG": 1.27, "ABS": 1.04, "ASA": 1.07}
    assert all(m.source and 0.05 < m.density_g_cm3 < 3 for m in materials.VOCABULARY)
    names = [a for m in materials.VOCABULARY for a in (m.name.lower(), *m.aliases)]
    assert len(names) == len(set(names))  # no alias means two materials
