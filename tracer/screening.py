"""Screening: exact wallet matching and fuzzy name matching against restricted-party lists.

Pure functions over rows the store hands over (``entities`` of kind ``listed_entity``), so the
matcher can be tested on labelled tables without a database.

Names are normalised before comparison: transliterated to ASCII (``normality``: Cyrillic, Greek,
Arabic ... become Latin), case-folded, punctuation removed, legal forms (LLC, Ltd, OOO, Co.,
GmbH, ...) dropped; long words are also compared lightly stemmed ("Computing"/"Compute"), since "Sinobright Import and Export Co., Ltd." and "SINOBRIGHT IMPORT & EXPORT
COMPANY" are the same party. The score of a pair is the best of

- ``ratio`` on the normalised strings (typos, dropped letters),
- ``token_sort_ratio`` (word order: "LOGAN MOREY, Elvis" vs "Elvis Logan Morey"),
- ``token_set_ratio`` only when the shorter name keeps at least two distinctive tokens (so one
  common word such as "trading" or "bank" never makes a 100),
- ``ratio`` of the names with spaces removed ("Sino Bright" vs "Sinobright"; web domains),

capped at 80 when both names carry numbers and none agree ("CETC 13th Research Institute" is not
the "CETC 54th Research Institute").

DEFAULT_THRESHOLD = 88 was chosen on the labelled table in ``tests/test_screening.py`` (perturbed
spellings of real CSL Entity List names vs unrelated real company names): at 88 every perturbation
kind we test (typo, transposition, dropped legal form, word order, case, punctuation, spacing) is
still found, while the closest unrelated pairs (sharing one or two generic words) score below 80.
A lower threshold buys little recall and floods reviewers; a match is a lead for a human, never a
verdict, and every stored match keeps its score and the fields it matched.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rapidfuzz import fuzz, process

DEFAULT_THRESHOLD = 88.0
NUMBER_MISMATCH_CAP = 80.0
BLOCK_ABOVE = 50_000  # names; above this, candidates are blocked on 4-letter token prefixes
STEMMED_MAX = 99.0  # a match only after stemming is never shown as 100 (exact after normalisation)

#: Legal-form and filler tokens removed before comparing organisation names.
LEGAL_FORMS = frozenset([
    "llc", "ltd", "limited", "co", "company", "corp", "corporation", "inc", "incorporated", "plc",
    "gmbh", "ag", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "aps", "kft", "zrt",
    "sro", "ooo", "oao", "zao", "pao", "ao", "tov", "pjsc", "ojsc", "cjsc", "jsc", "pte", "pty", "lp",
    "llp", "fze", "fzco", "fzc", "fz", "dmcc", "lda", "ltda", "cia", "the", "and", "of", "group",
    "holding", "holdings", "international", "intl", "trading",
])
_STOP_ONLY = frozenset({"the", "and", "of"})
_PUNCT = re.compile(r"[^\w\s]+")


def ascii_fold(text: str) -> str:
    """Transliterate to ASCII: normality when installed, else NFKD accent stripping."""
    try:
        from normality import ascii_text

        return ascii_text(text) or ""
    except ImportError:  # pragma: no cover - normality is a dependency
        return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def normalize_name(name: str, drop_legal_forms: bool = True, stem: bool = False) -> str:
    """Comparable form of a party name: ASCII, case-folded, no punctuation, no legal forms."""
    s = ascii_fold(name or "").casefold().replace("&", " and ")
    s = _PUNCT.sub(" ", s.replace("'", "").replace("\u2019", "").replace(".", ""))
    tokens = s.split()
    if drop_legal_forms:
        kept = [t for t in tokens if t not in LEGAL_FORMS]
        tokens = kept or [t for t in tokens if t not in _STOP_ONLY] or tokens
    return " ".join(_stem(t) for t in tokens) if stem else " ".join(tokens)


def stem_norm(norm: str) -> str:
    """The stemmed variant of an already normalised name."""
    return " ".join(_stem(t) for t in norm.split())


_SUFFIXES = ("ing", "ers", "er", "es", "ed", "s", "e")


def _stem(token: str) -> str:
    """A light suffix strip ("computing"/"compute" -> "comput") for words longer than five letters."""
    if len(token) > 5 and token.isalpha():
        for suf in _SUFFIXES:
            if token.endswith(suf) and len(token) - len(suf) >= 5:
                return token[: -len(suf)]
    return token


def domain_of(value: str) -> str:
    """The host of a website or e-mail address, lower-case, without ``www.``."""
    v = (value or "").strip().lower()
    if "@" in v and "/" not in v:
        v = v.rsplit("@", 1)[1]
    elif "//" in v:
        v = urlsplit(v).netloc
    else:
        v = v.split("/", 1)[0]
    v = v.split(":", 1)[0].strip(".")
    return v[4:] if v.startswith("www.") else v


def domain_label(domain: str) -> str:
    """The name-like part of a domain ("sino-bright-export.com.cn" -> "sino bright export")."""
    parts = [p for p in domain.split(".") if p]
    generic = {"com", "net", "org", "co", "ac", "gov", "edu", "ltd", "plc", "biz", "info"}
    if len(parts) > 1:
        parts.pop()  # the top-level domain
    while len(parts) > 1 and (parts[-1] in generic or len(parts[-1]) == 2):
        parts.pop()  # second-level registries: .com.cn, .co.uk
    return (parts[-1] if parts else "").replace("-", " ").replace("_", " ")


def pair_score(query_norm: str, cand_norm: str) -> float:
    """Similarity 0-100 of two normalised names: the better of the plain and the stemmed forms
    (stemming helps "Computing"/"Compute" and hurts typos such as "Shiping"/"Shipping")."""
    plain = _score(query_norm, cand_norm)
    if plain >= 100:
        return plain
    return max(plain, min(_score(stem_norm(query_norm), stem_norm(cand_norm)), STEMMED_MAX))


def _score(query_norm: str, cand_norm: str) -> float:
    if not query_norm or not cand_norm:
        return 0.0
    scores = [fuzz.ratio(query_norm, cand_norm), fuzz.token_sort_ratio(query_norm, cand_norm),
              fuzz.ratio(query_norm.replace(" ", ""), cand_norm.replace(" ", ""))]
    short = min(len(query_norm.split()), len(cand_norm.split()))
    if short >= 2:
        scores.append(fuzz.token_set_ratio(query_norm, cand_norm))
    best = float(max(scores))
    qn, cn = _numbers(query_norm), _numbers(cand_norm)
    if qn and cn and not qn & cn:  # "13th Research Institute" is not the "54th": numbered units differ
        best = min(best, NUMBER_MISMATCH_CAP)
    return best


def _numbers(norm: str) -> set[str]:
    return {re.sub(r"\D", "", t) for t in norm.split() if any(ch.isdigit() for ch in t)}


@dataclass(frozen=True)
class Candidate:
    """One screenable string of a listed party: its name, an alias, a website or an e-mail domain."""

    entity_id: str
    text: str
    field: str  # name | alias | website | email
    label: str
    list_type: str
    uid: str
    programmes: tuple[str, ...] = ()
    source: str = ""
    norm: str = ""


@dataclass
class Match:
    """A screening hit with everything a reviewer needs to check it."""

    query: str
    query_field: str
    entity_id: str
    label: str
    matched_text: str
    matched_field: str
    score: float
    list_type: str
    uid: str
    programmes: list[str] = field(default_factory=list)
    source: str = ""
    snapshot: str = ""

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def candidates_from_entities(rows: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Candidates from ``entities`` rows of kind ``listed_entity`` (attrs as JSON text or dict)."""
    out: list[Candidate] = []
    for r in rows:
        attrs = r.get("attrs") or {}
        if isinstance(attrs, str):
            attrs = json.loads(attrs)
        base = {"entity_id": r["id"], "label": r.get("label") or "", "list_type": attrs.get("list_type", ""),
                "uid": str(attrs.get("uid", "")), "programmes": tuple(attrs.get("programmes") or ()),
                "source": r.get("source") or ""}
        names = [("name", r.get("label") or "")] + [("alias", a) for a in attrs.get("aliases") or []]
        seen = set()
        for fld, text in names:
            n = normalize_name(text)
            if n and n not in seen:
                seen.add(n)
                out.append(Candidate(text=text, field=fld, norm=n, **base))
        for fld in ("websites", "emails"):
            for v in attrs.get(fld) or []:
                d = domain_of(v)
                if d:
                    out.append(Candidate(text=d, field=fld[:-1], norm=d, **base))
    return out


class NameScreener:
    """Fuzzy screening of names and domains against a fixed candidate set (built once, reused)."""

    def __init__(self, candidates: list[Candidate], threshold: float = DEFAULT_THRESHOLD,
                 block_above: int = BLOCK_ABOVE) -> None:
        self.threshold = threshold
        self.names = [c for c in candidates if c.field in ("name", "alias")]
        self.norms = [c.norm for c in self.names]
        self.compact = [n.replace(" ", "") for n in self.norms]
        self.stems = [stem_norm(n) for n in self.norms]
        self.domains: dict[str, list[Candidate]] = {}
        for c in candidates:
            if c.field in ("website", "email"):
                self.domains.setdefault(c.norm, []).append(c)
        # Large lists (the full OpenSanctions export has ~10^6 names): only names sharing a token
        # prefix with the query are scored, instead of every name.
        self.blocks: dict[str, list[int]] | None = None
        if len(self.names) > block_above:
            self.blocks = {}
            for i, n in enumerate(self.norms):
                for key in _block_keys(n):
                    self.blocks.setdefault(key, []).append(i)

    def _best(self, hits: dict[str, tuple[float, Candidate]], query: str, field_: str) -> list[Match]:
        out = [Match(query=query, query_field=field_, entity_id=c.entity_id, label=c.label, matched_text=c.text,
                     matched_field=c.field, score=round(s, 1), list_type=c.list_type, uid=c.uid,
                     programmes=list(c.programmes), source=c.source) for s, c in hits.values()]
        return sorted(out, key=lambda m: (-m.score, m.entity_id))

    def screen_name(self, name: str, field_: str = "name", limit: int = 10) -> list[Match]:
        """Listed parties whose name or alias scores at least the threshold against ``name``."""
        q = normalize_name(name)
        if not q or not self.norms:
            return []
        idx: set[int] = set()
        if self.blocks is not None:
            for key in _block_keys(q):
                idx.update(self.blocks.get(key, ()))
            return self._scored(idx, q, name, field_, limit)
        for scorer, choices, qq in ((fuzz.ratio, self.norms, q), (fuzz.token_sort_ratio, self.norms, q),
                                    (fuzz.token_set_ratio, self.norms, q),
                                    (fuzz.ratio, self.compact, q.replace(" ", "")),
                                    (fuzz.token_sort_ratio, self.stems, stem_norm(q))):
            for _, _, i in process.extract(qq, choices, scorer=scorer, score_cutoff=self.threshold,
                                           limit=limit * 5):
                idx.add(i)
        return self._scored(idx, q, name, field_, limit)

    def _scored(self, idx: set[int], q: str, name: str, field_: str, limit: int) -> list[Match]:
        hits: dict[str, tuple[float, Candidate]] = {}
        for i in idx:
            c = self.names[i]
            s = pair_score(q, c.norm)
            if s >= self.threshold and s > hits.get(c.entity_id, (-1.0, c))[0]:
                hits[c.entity_id] = (s, c)
        return self._best(hits, name, field_)[:limit]

    def screen_domain(self, value: str, field_: str = "website", limit: int = 10) -> list[Match]:
        """Exact domain hits (listed websites / e-mail domains), then the domain's name-like part."""
        d = domain_of(value)
        hits: dict[str, tuple[float, Candidate]] = {}
        for c in self.domains.get(d, []):
            hits[c.entity_id] = (100.0, c)
        label = domain_label(d)
        if label and len(label.replace(" ", "")) >= 5:
            for m in self.screen_name(label, field_, limit):
                if m.entity_id not in hits:
                    c = next(x for x in self.names if x.entity_id == m.entity_id and x.text == m.matched_text)
                    hits[m.entity_id] = (m.score, c)
        return self._best(hits, value, field_)[:limit]

    def screen(self, value: str, field_: str, limit: int = 10) -> list[Match]:
        """Screen one stored fact: ``organization``/``name`` as a name, ``email``/``website`` as a domain."""
        if field_ in ("email", "website"):
            return self.screen_domain(value, field_, limit)
        return self.screen_name(value, field_, limit)


def _block_keys(norm: str) -> set[str]:
    """Blocking keys of a normalised name: each token's first four letters, and the space-less
    name's, so "Sino Bright"/"Sinobright" and "Gunter"/"Gunther" share a key."""
    keys = {t[:4] for t in norm.split()}
    keys.add(norm.replace(" ", "")[:4])
    return keys


def candidate_wallet_ids(query: str) -> list[str]:
    """Every wallet id ``query`` is a valid address for (exact matching; nothing is "repaired")."""
    from connectors.addresses import COSMOS_HRPS, AddressError, wallet_id

    chains = ["evm", "bitcoin", "tron", "litecoin", "bitcoin-cash", "monero", "zcash", "dash", "ripple",
              "bitcoin-gold", "bitcoin-sv", "verge", "solana", *COSMOS_HRPS]
    out: list[str] = []
    for ch in chains:
        try:
            w = wallet_id(ch, query)
        except AddressError:
            continue
        if w not in out:
            out.append(w)
    return out


def looks_like_address(query: str) -> bool:
    """True when ``query`` is a single token that is a valid address of some chain."""
    q = query.strip()
    return bool(q) and " " not in q and bool(candidate_wallet_ids(q))


def address_problem(query: str) -> str | None:
    """Why a single address-like token is not a valid address (None if it is, or is not address-like).

    A lower-cased base58 address (a Tron ``t...`` or Bitcoin ``1...``) must be rejected with the
    reason, not silently screened as a name.
    """
    from connectors.addresses import AddressError, normalize

    q = query.strip()
    if " " in q or len(q) < 25 or not q.isalnum() or candidate_wallet_ids(q):
        return None
    guess = "evm" if q.lower().startswith("0x") else "tron" if q[:1] in "tT" else \
        "bitcoin-cash" if q[:1] in "qpQP" else "bitcoin"
    try:
        normalize(guess, q)
    except AddressError as e:
        return str(e)
    return None
