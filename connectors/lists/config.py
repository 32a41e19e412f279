"""Configuration schemas of the list connectors (sanctions lists, address lists, tag packs).

The defaults are the real public download locations; ``[connectors.<name>.sources.<key>]`` tables
override an entry or add one (a mirror, a local file, a dated historical copy).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from connectors.config import ConnectorConfig, Limits, limits

OFAC_ADDRESSES_BASE = "https://raw.githubusercontent.com/0xB10C/ofac-sanctioned-digital-currency-addresses/lists/"
OFAC_ASSETS = ("XBT", "ETH", "XMR", "LTC", "ZEC", "DASH", "BTG", "ETC", "BSV", "BCH", "XVG", "USDC", "USDT",
               "XRP", "TRX", "ARB", "BSC")
OFAC_BASE = "https://www.treasury.gov/ofac/downloads/"
OFAC_SLS = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/"
CSL_URL = "https://data.trade.gov/downloaded_files/consolidated.csv"
DPL_URL = "https://www.bis.doc.gov/dpl/dpl.txt"
UN_URL = "https://scsanctions.un.org/resources/xml/en/consolidated.xml"
OS_ENTITIES_URL = "https://data.opensanctions.org/datasets/latest/default/entities.ftm.json"
OS_DELTA_URL = "https://data.opensanctions.org/datasets/latest/sanctions/delta.json"
GS_BASE = "https://raw.githubusercontent.com/graphsense/graphsense-tagpacks/master/"
ES_BASE = "https://raw.githubusercontent.com/brianleect/etherscan-labels/main/"
FORTA_BASE = "https://raw.githubusercontent.com/forta-network/labelled-datasets/main/"
GS_PACKS = ("ofac.yaml", "tornado_cash.yaml", "usdt_blacklist.yaml", "exchange-wallets-binance.yaml",
            "exchange-wallets-okx.yaml", "exchange-wallets-huobi.yaml", "etherscan-wordcloud-exchange.yaml",
            "etherscan-wordcloud-mixing_service.yaml", "lazarus2.yaml", "hacks.yaml", "ronin_bridge.yaml",
            "blender_io.yaml", "sinbad_io.yaml", "hydra.yaml")
SCAN_SITES = ("etherscan", "bscscan", "polygonscan", "optimism", "arbiscan", "ftmscan", "avalanche")

_SOURCE_ON = Meta(description="load this source")


class OfacAddressesConfig(ConnectorConfig, kw_only=True):
    """OFAC SDN digital-currency addresses, one list per asset (0xB10C's nightly per-asset lists)."""

    base_url: Annotated[str, Meta(description=(
        "folder of sanctioned_addresses_<ASSET>.<format> files: a URL, file:// URL or local path"))] = \
        OFAC_ADDRESSES_BASE
    assets: Annotated[list[str], Meta(description="the per-asset lists to load")] = \
        msgspec.field(default_factory=lambda: list(OFAC_ASSETS))
    format: Annotated[str, Meta(description='"txt" (one address a line) or "json" (an array)')] = "txt"
    as_of: Annotated[str | None, Meta(description=(
        "snapshot time (RFC 3339) of a historical folder; default: the time of the load"))] = None
    limits: Limits = limits(concurrency=2, rate=2)


class ListSource(Struct, forbid_unknown_fields=True, kw_only=True):
    """One list file (and its side files) parsed into a dated snapshot."""

    url: Annotated[str, Meta(description="the list file: a URL, file:// URL or local path")]
    format: Annotated[str | None, Meta(description="parser of the file; default: the source's key")] = None
    source: Annotated[str | None, Meta(description=(
        "the `source` stored on every row; default: the key with - for _"))] = None
    enabled: Annotated[bool, _SOURCE_ON] = True
    side: Annotated[dict[str, str], Meta(description=(
        "side files by role (sdn_csv: comments, alt, add), fetched before the main file"))] = {}
    as_of: Annotated[str | None, Meta(description=(
        "snapshot time (RFC 3339) of a historical file; default: the file's own date"))] = None


class OpenSanctionsSource(ListSource, kw_only=True):
    """One OpenSanctions source: the full FollowTheMoney export or the delta feed."""

    versions_base: Annotated[str | None, Meta(description=(
        "delta feed: a mirror laid out as <versions_base>/<version>/entities.delta.json"))] = None


class TagSource(Struct, forbid_unknown_fields=True, kw_only=True):
    """One set of address tag files (GraphSense TagPacks, Etherscan labels, Forta datasets)."""

    format: Annotated[str | None, Meta(description="parser of the files; default: the source's key")] = None
    base_url: Annotated[str, Meta(description="prefix of every file (URL or folder); empty = files are full")] = ""
    files: Annotated[list[str], Meta(description="the files to load, relative to base_url")] = []
    source: Annotated[str | None, Meta(description="the `source` stored on every row; default: the key")] = None
    enabled: Annotated[bool, _SOURCE_ON] = True


def _ofac_sources() -> dict[str, ListSource]:
    return {
        "sdn_csv": ListSource(url=OFAC_BASE + "sdn.csv", format="sdn_csv", source="ofac-sdn-csv",
                              side={"comments": OFAC_BASE + "sdn_comments.csv", "alt": OFAC_BASE + "alt.csv",
                                    "add": OFAC_BASE + "add.csv"}),
        "sdn_advanced": ListSource(url=OFAC_SLS + "SDN_ADVANCED.XML", format="advanced_xml",
                                   source="ofac-sdn-advanced", enabled=False),
        "sdn_xml": ListSource(url=OFAC_SLS + "SDN.XML", format="sdn_xml", source="ofac-sdn-xml", enabled=False),
        "consolidated_xml": ListSource(url=OFAC_SLS + "CONSOLIDATED.XML", format="cons_xml",
                                       source="ofac-cons-xml", enabled=False),
        "thomasgregg": ListSource(url="https://raw.githubusercontent.com/thomasgregg/crypto-sanctions-list/main/"
                                      "data/sanctioned-addresses.json", format="thomasgregg_json",
                                  source="ofac-thomasgregg", enabled=False),
    }


_SOURCES = Meta(description="list sources by key (each becomes the stream <connector>.<key>)")


class ListsOfacConfig(ConnectorConfig, kw_only=True):
    """OFAC SDN and consolidated lists in every published format (sdn.csv family, SDN/advanced XML)."""

    sources: Annotated[dict[str, ListSource], _SOURCES] = msgspec.field(default_factory=_ofac_sources)
    limits: Limits = limits(concurrency=2, rate=1, timeout=300, max_body_bytes=512 * 1024 * 1024)


class ListsCslConfig(ConnectorConfig, kw_only=True):
    """US Consolidated Screening List (trade.gov) and the BIS Denied Persons List."""

    sources: Annotated[dict[str, ListSource], _SOURCES] = msgspec.field(default_factory=lambda: {
        "csl": ListSource(url=CSL_URL, format="csl_csv", source="csl"),
        "dpl": ListSource(url=DPL_URL, format="dpl_txt", source="bis-dpl", enabled=False)})
    limits: Limits = limits(concurrency=2, rate=1, timeout=300, max_body_bytes=256 * 1024 * 1024)


class ListsUnConfig(ConnectorConfig, kw_only=True):
    """UN Security Council Consolidated List (XML)."""

    sources: Annotated[dict[str, ListSource], _SOURCES] = msgspec.field(default_factory=lambda: {
        "un": ListSource(url=UN_URL, format="un_xml", source="un-consolidated")})
    limits: Limits = limits(concurrency=1, rate=1, timeout=300, max_body_bytes=128 * 1024 * 1024)


class ListsOpensanctionsConfig(ConnectorConfig, kw_only=True):
    """OpenSanctions: the full export (several GB, read whole: opt-in) and the small delta feed (on)."""

    sources: Annotated[dict[str, OpenSanctionsSource], _SOURCES] = msgspec.field(default_factory=lambda: {
        "entities": OpenSanctionsSource(url=OS_ENTITIES_URL, format="ftm_json", source="opensanctions",
                                        enabled=False),
        "delta": OpenSanctionsSource(url=OS_DELTA_URL, format="ftm_delta", source="opensanctions-delta")})
    limits: Limits = limits(concurrency=2, rate=2, timeout=600, max_body_bytes=4 * 1024**3)


class ListsTagsConfig(ConnectorConfig, kw_only=True):
    """Address tags: GraphSense TagPacks and ActorPacks, Etherscan-family labels, Forta datasets."""

    sources: Annotated[dict[str, TagSource], Meta(description=(
        "tag sources by key (each becomes the stream lists_tags.<key>)"))] = msgspec.field(
        default_factory=lambda: {
            "graphsense": TagSource(format="graphsense_tagpack", base_url=GS_BASE, source="graphsense",
                                    files=[f"packs/{p}" for p in GS_PACKS]),
            "graphsense_actors": TagSource(format="graphsense_actorpack", base_url=GS_BASE,
                                           source="graphsense-actors", files=["actors/graphsense.actorpack.yaml"]),
            "etherscan": TagSource(format="scan_combined", base_url=ES_BASE, source="etherscan-labels",
                                   files=[f"data/{s}/combined/combinedAllLabels.json" for s in SCAN_SITES]),
            "forta": TagSource(format="forta_csv", base_url=FORTA_BASE, source="forta",
                               files=["labels/1/phishing_scams.csv", "labels/1/malicious_smart_contracts.csv",
                                      "labels/1/etherscan_malicious_labels.csv"]),
        })
    limits: Limits = limits(concurrency=2, rate=2, timeout=120, max_body_bytes=256 * 1024 * 1024)


SCHEMAS: dict[str, type[Struct]] = {
    "ofac_addresses": OfacAddressesConfig,
    "lists_ofac": ListsOfacConfig,
    "lists_csl": ListsCslConfig,
    "lists_un": ListsUnConfig,
    "lists_opensanctions": ListsOpensanctionsConfig,
    "lists_tags": ListsTagsConfig,
}
