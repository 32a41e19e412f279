"""Attribution tags: GraphSense TagPacks (+ actor pack), *scan label exports (etherscan-labels
``combinedAllLabels.json`` and per-label account CSVs) and Forta labelled datasets.

A tag is an observation ``tag`` on ``wallet:<chain>:<addr>`` with the label as value, the source's
confidence, and ``attrs.category`` in tracer's vocabulary (exchange / bridge / mixer / service /
defi / market / gambling / miner / scam / hack / phishing / sanctioned / other): exchanges, bridges
and mixers are the hubs where exposure walks stop. The source's own category is kept beside it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from connectors import facts, ids
from connectors.addresses import ASSET_CHAINS, AddressError, chain_for_asset, normalize
from connectors.base import (
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConfigError,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    rejection,
    unstorable,
)
from connectors.config import TypedConfig
from connectors.lists.base import Unread, bad_utf8, guarded, line_dicts, rejected, utf8_text
from connectors.lists.config import ListsTagsConfig

TAG_SOURCES = Table(
    "tag_sources",
    (Column("source"), Column("snapshot"), Column("loaded_at"), Column("tags", "INTEGER"),
     Column("addresses", "INTEGER"), Column("rejected", "INTEGER"), Column("files", "INTEGER")),
    pk=("source",),
)

#: tracer's reading of GraphSense confidence names as 0-1 scores (authority and ownership highest).
CONFIDENCE = {"ownership": 1.0, "authority_data": 1.0, "ledger_immanent": 1.0, "override": 1.0,
              "service_data": 0.9, "service_api": 0.9, "forensic_investigation": 0.9, "forensic": 0.8,
              "trusted_provider": 0.8, "manual_transaction": 0.7, "web_crawl": 0.4, "heuristic": 0.4,
              "untrusted_transaction": 0.2, "unknown": 0.3}
#: GraphSense categories -> tracer categories.
GS_CATEGORY = {"exchange": "exchange", "mixing_service": "mixer", "coinjoin": "mixer", "bridge": "bridge",
               "market": "market", "gambling": "gambling", "miner": "miner", "wallet_service": "service",
               "service": "service", "payment_processor": "service", "defi": "defi", "defi_dex": "defi",
               "defi_lending": "defi", "defi_bridge": "bridge", "black_list": "sanctioned", "scam": "scam",
               "ransomware": "scam", "hacker": "hack", "perpetrator": "hack", "organization": "organization",
               "user": "user", "faucet": "service", "atm": "service"}
_KEYWORDS: list[tuple[str, str]] = [  # label/name keyword -> category, first hit wins
    ("tornado", "mixer"), ("mixer", "mixer"), ("mixing", "mixer"), ("blender", "mixer"), ("sinbad", "mixer"),
    ("ofac", "sanctioned"), ("sanction", "sanctioned"), ("blocked", "sanctioned"),
    ("phish", "phishing"), ("fake_phishing", "phishing"), ("heist", "hack"), ("exploit", "hack"), ("hack", "hack"),
    ("scam", "scam"), ("ponzi", "scam"), ("bridge", "bridge"), ("wormhole", "bridge"), ("multichain", "bridge"),
    ("exchange", "exchange"), ("binance", "exchange"), ("coinbase", "exchange"), ("kraken", "exchange"),
    ("kucoin", "exchange"), ("okx", "exchange"), ("okex", "exchange"), ("huobi", "exchange"), ("bitfinex", "exchange"),
    ("gate.io", "exchange"), ("bybit", "exchange"), ("crypto.com", "exchange"), ("ftx", "exchange"),
    ("poloniex", "exchange"), ("bittrex", "exchange"), ("gemini", "exchange"), ("bitstamp", "exchange"),
    ("dex", "defi"), ("uniswap", "defi"), ("sushiswap", "defi"), ("curve", "defi"), ("aave", "defi"),
    ("mining", "miner"), ("pool", "miner"), ("gambling", "gambling"), ("casino", "gambling"),
]
_CURRENCY = {"BTC": "XBT", "BEP20": "BSC", "BEP2": "", "ATOM": "", "EOS": "", "KCS": ""}
_SCAN_CHAIN = {"etherscan": "ethereum", "bscscan": "bsc", "polygonscan": "polygon", "optimism": "optimism",
               "arbiscan": "arbitrum", "ftmscan": "fantom", "avalanche": "avalanche"}


def category_from_text(*texts: str) -> str:
    """tracer category from free-form labels / names: the first text that any keyword rule
    classifies wins (so a file's label "phish-hack" beats a token name "$TORNADO")."""
    for t in texts:
        low = (t or "").lower()
        cat = next((c for kw, c in _KEYWORDS if kw in low), None)
        if cat:
            return cat
    return "other"


@dataclass
class Tag:
    """One attribution as published, before address normalisation."""

    address: str
    chain: str  # a chain name for connectors.addresses, or "" to decide from ``asset``
    asset: str
    label: str
    category: str
    confidence: float
    source_category: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


def _chain(asset: str, address: str) -> str:
    code = _CURRENCY.get(asset.upper(), asset.upper())
    if asset.upper() == "ATOM":
        return "cosmos"
    if not code or code not in ASSET_CHAINS:
        raise AddressError(f"currency {asset!r} is not supported for exact matching")
    return chain_for_asset(code, address)


def _text(v: Any, what: str) -> str:
    """A field that must be text (YAML's BaseLoader and CSV give text; JSON may not)."""
    if not isinstance(v, str):
        raise TypeError(f"{what} is a {type(v).__name__}, not text")
    return v


def parse_tagpack(body: bytes, path: str, unread: list[Unread] | None = None) -> list[Tag]:
    """A GraphSense TagPack: header fields are inherited by every item of ``tags`` unless overridden.

    Loaded with YAML's BaseLoader (every scalar a string), so an unquoted ``0x...`` address is
    never turned into an integer (YAML 1.1 reads it as hex) and never loses its leading zeros.
    Item by item: a tag that is not a mapping, has no address, a field of another type, or invalid
    UTF-8, goes to ``unread``; the others are read.
    """
    text, repaired = utf8_text(body)
    doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds plain str/list/dict only
    if not isinstance(doc, dict) or not isinstance(doc.get("tags"), list):
        raise ValueError(f"{path}: not a TagPack (no tags list)")
    header = {k: v for k, v in doc.items() if k != "tags"}
    bad = [] if unread is None else unread
    out = []
    for item in doc["tags"]:
        t = guarded(bad, item, None, functools.partial(_tagpack_item, header, item, path, repaired))
        if t is not None:
            out.append(t)
    return out


def _tagpack_item(header: dict[str, Any], item: Any, path: str, repaired: bool) -> Tag:
    if not isinstance(item, dict):
        raise TypeError(f"a tag that is a {type(item).__name__}, not a mapping")
    t = {**header, **item}
    for k in ("address", "currency", "category", "label", "title", "confidence", "actor", "source", "lastmod"):
        if t.get(k) is not None:
            _text(t[k], k)
    if not str(t.get("address", "")).strip():
        raise ValueError("a tag without an address")
    if bad_utf8(repaired, *(v for v in t.values() if isinstance(v, str))):
        raise ValueError("invalid UTF-8")
    gs_cat = str(t.get("category", "") or "")
    label = str(t.get("label", "") or t.get("title", ""))
    ctx = t.get("context")
    return Tag(address=str(t.get("address", "")).strip(), chain="", asset=str(t.get("currency", "")).strip(),
               label=label, category=GS_CATEGORY.get(gs_cat) or category_from_text(label),
               confidence=CONFIDENCE.get(str(t.get("confidence", "")), 0.3), source_category=gs_cat,
               attrs={"pack": path, "title": header.get("title", ""), "actor": t.get("actor", ""),
                      "source_url": t.get("source", ""), "confidence_name": t.get("confidence", ""),
                      "lastmod": t.get("lastmod", ""), "context": ctx if isinstance(ctx, str) else ""})


def parse_scan_combined(body: bytes, path: str, unread: list[Unread] | None = None) -> list[Tag]:
    """etherscan-labels ``combinedAllLabels.json``: ``{address: {name, labels[]}}`` of one *scan."""
    scan = next((s for s in _SCAN_CHAIN if f"/{s}/" in f"/{path}"), "etherscan")
    text, repaired = utf8_text(body)
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not an object of addresses")
    bad = [] if unread is None else unread
    out = []
    for addr, v in doc.items():
        t = guarded(bad, {addr: v}, None, functools.partial(_scan_item, addr, v, path, scan, repaired))
        if t is not None:
            out.append(t)
    return out


def _scan_item(addr: str, v: Any, path: str, scan: str, repaired: bool) -> Tag:
    if not isinstance(v, dict):
        raise TypeError(f"an entry that is a {type(v).__name__}, not an object")
    labels = v.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise TypeError("labels is not a list of text")
    name = _text(v.get("name") or "", "name")
    if bad_utf8(repaired, addr, name, *labels):
        raise ValueError("invalid UTF-8")
    return Tag(address=addr, chain=_SCAN_CHAIN[scan], asset="", label=name or (labels[0] if labels else ""),
               category=category_from_text(*labels, name), confidence=0.7,
               source_category=",".join(labels), attrs={"file": path, "scan": scan, "labels": labels})


def _csv_rows(body: bytes, unread: list[Unread]) -> Iterator[dict[str, str]]:
    """The rows of a CSV with a header, each checked: a row with a field missing or extra, or with
    invalid UTF-8, goes to ``unread``."""
    text, repaired = utf8_text(body)
    fieldnames, reader = line_dicts(text)
    for r in reader:
        if None in r or any(v is None for v in r.values()):
            unread.append(Unread.of(r, f"not the {len(fieldnames)} fields of the header"))
        elif bad_utf8(repaired, *r.values()):
            unread.append(Unread.of(r, "invalid UTF-8"))
        else:
            yield r


def parse_scan_accounts(body: bytes, path: str, unread: list[Unread] | None = None) -> list[Tag]:
    """etherscan-labels ``accounts/<label>.csv``: ``,Address,Name Tag,Balance,Txn Count``."""
    label = re.sub(r"\.csv$", "", path.rsplit("/", 1)[-1])
    out = []
    for r in _csv_rows(body, [] if unread is None else unread):
        name = (r.get("Name Tag") or "").strip()
        out.append(Tag(address=(r.get("Address") or "").strip(), chain="ethereum", asset="", label=name or label,
                       category=category_from_text(label, name),
                       confidence=0.7, source_category=label,
                       attrs={"file": path, "labels": [label]}))
    return out


def parse_forta(body: bytes, path: str, unread: list[Unread] | None = None) -> list[Tag]:
    """Forta labelled datasets (phishing EOAs, malicious contracts and their creators, etherscan bans)."""
    chain_id = next((p for p in path.split("/") if p.isdigit()), "1")
    chain = {"1": "ethereum", "10": "optimism", "56": "bsc", "137": "polygon"}.get(chain_id, "ethereum")
    out = []
    for r in _csv_rows(body, [] if unread is None else unread):
        if "contract_address" in r:
            lab = r.get("contract_creator_etherscan_label") or ""
            cat = category_from_text(lab, r.get("contract_tag") or "") if lab or r.get("contract_tag") else "scam"
            out.append(Tag(r["contract_address"], chain, "", r.get("contract_tag") or f"malicious contract ({lab})",
                           cat, 0.8, lab, {"file": path, "role": "contract", "creator": r.get("contract_creator")}))
            if r.get("contract_creator"):
                out.append(Tag(r["contract_creator"], chain, "", r.get("contract_creator_tag") or f"creator of "
                               f"malicious contract {r['contract_address']}", cat, 0.7, lab,
                               {"file": path, "role": "creator", "tx": r.get("contract_creation_tx")}))
        elif "banned_address" in r:
            out.append(Tag(r["banned_address"], chain, "", r.get("wallet_tag") or "", category_from_text(
                r.get("wallet_tag") or "", r.get("data_source") or "") if r.get("wallet_tag") else "scam", 0.7,
                r.get("data_source") or "", {"file": path}))
        elif "address" in r:
            out.append(Tag(r["address"], chain, "", r.get("etherscan_tag") or "",
                           category_from_text(r.get("etherscan_labels") or "", r.get("etherscan_tag") or ""), 0.7,
                           r.get("etherscan_labels") or "", {"file": path, "is_contract": r.get("is_contract")}))
    return out


def parse_actorpack(body: bytes, path: str, unread: list[Unread] | None = None) -> list[dict[str, Any]]:
    """GraphSense actor pack: id, label, categories, jurisdictions (ISO2), uri; an actor without a text id,
    with a field of another type or with invalid UTF-8 goes to ``unread``."""
    text, repaired = utf8_text(body)
    doc = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506
    actors = doc.get("actors") if isinstance(doc, dict) else None
    if not isinstance(actors, list):
        raise ValueError(f"{path}: not an actor pack (no actors list)")
    bad = [] if unread is None else unread
    out = []
    for a in actors:
        why = _actor_problem(a, repaired)
        if why is None:
            out.append(a)
        else:
            bad.append(Unread.of(a, why))
    return out


def _actor_problem(a: Any, repaired: bool) -> str | None:
    if not isinstance(a, dict) or not isinstance(a.get("id"), str) or not a["id"].strip():
        return "an actor without a text id"
    if not isinstance(a.get("label", ""), str) or not isinstance(a.get("uri", ""), str):
        return "label or uri is not text"
    for k in ("categories", "jurisdictions"):
        if not isinstance(a.get(k) or [], list):
            return f"{k} is not a list"
    if bad_utf8(repaired, json.dumps(a, ensure_ascii=False)):
        return "invalid UTF-8"
    return None


TagParser = Callable[[bytes, str, list[Unread]], list[Tag]]
PARSERS: dict[str, TagParser] = {"graphsense_tagpack": parse_tagpack, "scan_combined": parse_scan_combined,
                                 "scan_accounts_csv": parse_scan_accounts, "forta_csv": parse_forta}


def tag_records(source: str, stream: str, tags: list[Tag], load_at: str) -> tuple[list[Record], int, int]:
    """Store rows for tags: wallet entities, ``tag`` observations, rejected inputs (one tag whose rows
    the store could not write is one rejected row too)."""
    recs: list[Record] = []
    wallets: set[str] = set()
    n_rejected = 0
    for t in tags:
        try:
            chain = t.chain or _chain(t.asset, t.address)
            wid = ids.wallet(chain, normalize(chain, t.address))
        except AddressError as e:
            n_rejected += 1
            one = [rejected(stream, t.address[:200], f"{t.asset or t.chain} {t.label}"[:200], str(e), load_at)]
            bad = unstorable(one)
            recs += [rejection(stream, t.address, bad, load_at)] if bad else one
            continue
        mine = [facts.wallet_of(wid, source, load_at), facts.observation(
            wid, "tag", t.label, source, load_at, confidence=t.confidence,
            attrs={"category": t.category, "source_category": t.source_category, "chain": chain, **t.attrs},
            id_=f"obs:{source}:{wid}:tag:{t.label}"[:500])]
        bad = unstorable(mine)
        if bad:
            n_rejected += 1
            recs.append(rejection(stream, {"address": t.address, "label": t.label}, bad, load_at))
            continue
        wallets.add(wid)
        recs += mine
    return recs, len(wallets), n_rejected


def unread_records(stream: str, unread: list[Unread], path: str, load_at: str) -> Iterator[Record]:
    """One ``rejected_inputs`` row per item of a tag file that did not read (context: file + item hash)."""
    for u in unread:
        yield rejection(stream, u.value, u.reason, load_at, f"{path} sha256:{u.digest[:16]}"[:300])


class TagStream:
    """Every file of one tag source, one page each; then a summary row in ``tag_sources``."""

    name: ClassVar[str] = ""  # per instance: <connector>.<source key> (set in __init__)
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (ENTITIES, OBSERVATIONS, REJECTED, TAG_SOURCES)

    def __init__(self, connector: str, key: str, cfg: dict[str, Any]) -> None:
        self.name = f"{connector}.{key}"  # type: ignore[misc]
        self.fmt = cfg.get("format", key)
        if self.fmt not in PARSERS and self.fmt != "graphsense_actorpack":
            raise ConfigError(f"tag source {key}: unknown format {self.fmt!r}; use one of "
                              f"{', '.join(sorted([*PARSERS, 'graphsense_actorpack']))}")
        self.base = str(cfg.get("base_url", ""))
        self.files = [str(f) for f in cfg.get("files") or []]
        self.source = str(cfg.get("source", key))

    def url(self, f: str) -> str:
        return f if not self.base else self.base.rstrip("/") + "/" + f.lstrip("/")

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        load_at = ctx.now
        for f in self.files:
            resp = await ctx.http.get_bytes(self.url(f))
            ctx.report(1, len(self.files), f.rsplit("/", 1)[-1])
            yield Page(body=resp.body, url=resp.url, method="GET", data={"path": f, "load_at": load_at}, state=None)
        totals = {"tags": 0, "addresses": 0, "rejected": 0}
        if ctx.stored is not None:
            got = ctx.stored.tag_totals(self.source, self.name, self.fmt == "graphsense_actorpack")
            totals = {k: int(got.get(k) or 0) for k in totals}
        body = json.dumps({"source": self.source, **totals}).encode()
        yield Page(body=body, url=self.base or self.source, method="derive:tag-summary",
                   data={"totals": totals, "load_at": load_at, "files": len(self.files)},
                   state={"loaded_at": load_at})

    def transform(self, page: Page) -> Iterator[Record]:
        d = page.data
        if page.method == "derive:tag-summary":
            yield Record("tag_sources", {"source": self.source, "snapshot": d["load_at"][:10], "loaded_at": d["load_at"],
                                         "files": d["files"], **d["totals"]})
            return
        unread: list[Unread] = []
        actors: list[dict[str, Any]] = []
        tags: list[Tag] = []
        try:
            if self.fmt == "graphsense_actorpack":
                actors = parse_actorpack(page.body, d["path"], unread)
            else:
                tags = PARSERS[self.fmt](page.body, d["path"], unread)
        except (ValueError, KeyError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
            raise ConfigError(f"{page.url}: not a {self.fmt} file ({type(e).__name__})") from e
        yield from unread_records(self.name, unread, str(d["path"]), d["load_at"])
        if self.fmt == "graphsense_actorpack":
            for a in actors:
                # label and attrs stated outright: an actor whose pack dropped its label loses it here too
                yield facts.entity_stated(ids.actor("graphsense", a["id"]), self.source, d["load_at"], kind="actor",
                                          label=a.get("label"),
                                          attrs={"categories": a.get("categories") or [],
                                                 "jurisdictions": a.get("jurisdictions") or [],
                                                 "uri": a.get("uri", "")})
            return
        yield from tag_records(self.source, self.name, tags, d["load_at"])[0]


class ListsTagsConnector(TypedConfig):
    """Attribution tags (GraphSense TagPacks, *scan labels, Forta) with source and confidence."""

    name: ClassVar[str] = "lists_tags"
    description: ClassVar[str] = "Attribution tags: GraphSense TagPacks, etherscan-style labels, Forta labels"
    schema = ListsTagsConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [TagStream(self.name, k, v) for k, v in (config.get("sources") or {}).items() if v.get("enabled", True)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        out = []
        for k, v in (config.get("sources") or {}).items():
            if v.get("enabled", True) and v.get("files"):
                s = TagStream(self.name, k, v)
                out.append(Probe(k, s.url(s.files[0])))
        return out

