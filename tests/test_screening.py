"""Name screening on the real CSL samples: perturbed spellings of listed names are found, unrelated
names are not. A labelled table; precision and recall are printed and held above floors."""

from __future__ import annotations

import pytest
from lists_support import fixture

from connectors.lists.base import Party, entity_attrs
from connectors.lists.csl import parse_csl
from tracer.screening import (
    DEFAULT_THRESHOLD,
    NameScreener,
    candidate_wallet_ids,
    candidates_from_entities,
    domain_label,
    domain_of,
    normalize_name,
    pair_score,
)

PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.90

# (query as a provider might spell it, the listed name it must find; None = must match nothing)
LABELLED: list[tuple[str, str | None]] = [
    ("32 Group China Limited", "32 Group China Ltd."),
    ("3K Aviaton Consulting & Logistics", "3K Aviation Consulting and Logistics"),
    ("3K HAVACILIK VE DANISMANLIK SAN TIC LTD STI", "3K Aviation Consulting and Logistics"),
    ("54th Research Institue of China", "54th Research Institute of China"),
    ("A Leib Limited", "A. Leib Ltd."),
    ("AC International Inc", "A.C. International"),
    ("A H Shamnad", "A.H. Shamnad"),
    ("AP Finance Ltd", "A.P. Finance Limited"),
    ("ACTeam Logistics Limited", "ACTeam Logistics Ltd."),
    ("Gryphon Aerospace Corp", "Gryphon Aerospace"),
    ("Gryphon Aero Space", "Gryphon Aerospace"),
    ("Guian New District Huawei Investment Company", "Gui\u2019an New District Huawei Investment Co., Ltd."),
    ("Gulf Eagle Contracting", "Gulf Eagle Contracting (GEC)"),
    ("Gulf Eagle Industrial & Metal Profiles LLC", "Gulf Eagle Industrial and Metal Profiles (GEIMP)"),
    ("Gulf Gate Sea Cargo L.L.C.", "Gulf Gate Sea Cargo LLC"),
    ("Gulf Gate Shiping Co", "Gulf Gate Shipping Co. LLC"),
    ("GulfGate Spedition GmbH", "Gulf Gate Spedition GmbH"),
    ("YEGANE, Gulnihal", "Gulnihal Yegane"),
    ("Gunter Migeotte", "Gunther Migeotte"),
    ("Academy of Aerospace Solid Propulsion Technologies", "Academy of Aerospace Solid Propulsion Technology (AASPT)"),
    ("China Electronics Technology Group Corp. 13th Research Institute",
     "China Electronics Technology Group Corporation 13th Research Institute"),
    ("Hebei Semiconductor Research Inst.", "China Electronics Technology Group Corporation 13th Research Institute"),
    ("SINOBRIGHT IMPORT & EXPORT CO., LTD.", "Sinobright Import and Export Company"),
    ("Sino Bright Import and Export", "Sinobright Import and Export Company"),
    ("Atlas Sanatgaran LLC", "Atlas Sanatgaran"),
    ("ATLAS SANAT GARAN", "Atlas Sanatgaran"),
    ("Rosneft Trade Ltd", "ROSNEFT TRADE LIMITED"),
    # unrelated names: GPU clouds, and real-looking names sharing generic words with listed ones
    ("Lambda Labs Inc", None),
    ("CoreWeave", None),
    ("Hetzner Online GmbH", None),
    ("OVH SAS", None),
    ("DigitalOcean LLC", None),
    ("Paperspace Co", None),
    ("Gulf Air Company", None),
    ("China Telecom Corporation", None),
    ("Eagle Logistics Ltd", None),
    ("Atlas Copco AB", None),
    ("Research Institute of Applied Physics", None),
    ("Aerospace Solutions Ltd", None),
    ("Gate Shipping Services", None),
    ("International Finance Corp", None),
    ("Akash Network", None),
    ("Golem Factory GmbH", None),
    ("Northern Data AG", None),
    ("Crusoe Energy Systems", None),
    ("Gunther Schmidt", None),
    ("Evren Kaya", None),
    ("Genesis Cloud GmbH", None),
    ("Salad Technologies", None),
    ("Guangzhou Investment Company", None),
    ("Group Seven Holdings", None),
]


def _screener(threshold: float = DEFAULT_THRESHOLD, block_above: int = 50_000) -> tuple[NameScreener, dict[str, str]]:
    parties: list[Party] = []
    for f in ("csl_legacy_subset.csv", "csl_consolidated_2025_subset.csv"):
        parties += parse_csl({"main": fixture("trade-gov-csl", f).read_bytes()}).parties
    rows = [{"id": p.entity_id, "label": p.name, "attrs": entity_attrs(p), "source": "csl"} for p in parties]
    return (NameScreener(candidates_from_entities(rows), threshold, block_above),
            {p.entity_id: p.name for p in parties})


def evaluate(threshold: float, block_above: int = 50_000) -> tuple[float, float, list[str]]:
    sc, names = _screener(threshold, block_above)
    tp = fp = fn = 0
    errors = []
    for query, expected in LABELLED:
        hits = sc.screen_name(query)
        found = {names[m.entity_id] for m in hits}
        if expected is None:
            if hits:
                fp += 1
                errors.append(f"FP {query!r} -> {hits[0].label!r} {hits[0].score}")
        elif any(normalize_name(expected) in normalize_name(f) for f in found):
            tp += 1
            wrong = {f for f in found if normalize_name(expected) not in normalize_name(f)}
            fp += len(wrong)
            errors += [f"FP {query!r} also -> {w!r}" for w in wrong]
        else:
            fn += 1
            errors.append(f"FN {query!r} (best: {hits[0].label if hits else None!r})")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, errors


def test_labelled_table_precision_recall() -> None:
    assert len(LABELLED) >= 40
    assert sum(e is None for _, e in LABELLED) >= 15
    precision, recall, errors = evaluate(DEFAULT_THRESHOLD)
    print(f"\nthreshold {DEFAULT_THRESHOLD}: precision {precision:.3f} recall {recall:.3f} "
          f"on {len(LABELLED)} labelled pairs")
    for e in errors:
        print("  ", e)
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR


def test_blocked_screening_keeps_precision_and_recall() -> None:
    """The prefix blocking used for very large lists, forced on for the sample: same floors."""
    precision, recall, errors = evaluate(DEFAULT_THRESHOLD, block_above=0)
    print(f"\nblocked: precision {precision:.3f} recall {recall:.3f}", *errors, sep="\n  ")
    assert precision >= PRECISION_FLOOR and recall >= RECALL_FLOOR


def test_threshold_sweep_shows_the_tradeoff() -> None:
    lo_p, lo_r, _ = evaluate(70)
    hi_p, hi_r, _ = evaluate(99)
    print(f"\nthreshold 70: precision {lo_p:.3f} recall {lo_r:.3f}; threshold 99: precision {hi_p:.3f} "
          f"recall {hi_r:.3f}")
    assert lo_p < PRECISION_FLOOR  # too low a threshold floods reviewers with unrelated names
    assert hi_r < RECALL_FLOOR  # an exact-only matcher misses real spellings


def test_match_carries_evidence_fields() -> None:
    sc, _ = _screener()
    m = sc.screen_name("Atlas Sanatgaran LLC")[0]
    assert m.list_type == "Unverified List" and m.matched_field == "name" and m.score >= DEFAULT_THRESHOLD
    assert m.uid and m.entity_id == f"entity:csl:{m.uid}"
    alias = sc.screen_name("Hebei Semiconductor Research Institute")[0]
    assert alias.matched_field == "alias" and alias.list_type == "Entity List"


def test_normalisation() -> None:
    assert normalize_name("Gulf Gate Sea Cargo L.L.C.") == "gulf gate sea cargo"
    assert normalize_name("ООО «Интер Тобако»") == "inter tobako"
    assert normalize_name("Société Générale S.A.") == "societe generale"
    assert normalize_name("Kowloon Computing Limited", stem=True) == normalize_name("Kowloon Compute Ltd", stem=True)
    assert pair_score(normalize_name("Kowloon Computing Limited"), normalize_name("Kowloon Compute Ltd")) == 99
    assert pair_score(normalize_name("Sino Bright"), normalize_name("Sinobright")) == 100
    assert pair_score("bank", "bank melli iran") < DEFAULT_THRESHOLD  # one shared word is not a match


def test_domains() -> None:
    assert domain_of("https://www.gicdf.org/about") == "gicdf.org"
    assert domain_of("info@GICDF.org") == "gicdf.org"
    assert domain_label("atlas-sanatgaran.com.am") == "atlas sanatgaran"
    assert domain_label("hk1.example") == "hk1" and domain_label("www.sino-bright.co.uk") == "sino bright"
    sc, _ = _screener()
    hits = sc.screen_domain("sales@atlas-sanatgaran.am", "email")
    assert hits and hits[0].label == "Atlas Sanatgaran"
    assert sc.screen_domain("https://lambdalabs.com", "website") == []


@pytest.mark.parametrize("addr,expected", [
    ("0x8589427373D6D84E98730D7795D8f6f8731FDA16", ["wallet:evm:0x8589427373d6d84e98730d7795d8f6f8731fda16"]),
    ("0x8589427373d6d84e98730d7795d8f6f8731fda16", ["wallet:evm:0x8589427373d6d84e98730d7795d8f6f8731fda16"]),
    ("0x8589427373D6D84E98730D7795D8f6f8731FDA17", []),  # bad EIP-55 checksum: not repaired
    ("Lambda Labs", []),
])
def test_candidate_wallet_ids_exact(addr: str, expected: list[str]) -> None:
    assert candidate_wallet_ids(addr) == expected
