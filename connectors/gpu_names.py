"""Market GPU names -> one catalog id, so "H100 SXM" (Vast), ``h100`` (Akash), "NVIDIA GeForce RTX 4090"
(Golem), "1x NVIDIA GeForce RTX 3080" (Clore), "RTX A6000" (io.net) and Nosana market names meet.

Why a rule list and not only an alias table: marketplaces print the same part in many spellings
(vendor prefixes, memory suffixes, "Ti"/"S"/"Super", "PCIE-80GB"), and new cards keep appearing; the
rules below normalise the spelling first and then map families, so an unseen spelling of a known part
still resolves, while a name we cannot place returns ``None`` (never a guess).

Ids follow the dated GPU catalog (``tracer/catalog/gpus.json``, owned by the graph layer) where it
lists the part: ``h100-sxm``, ``h100-pcie``, ``h200``, ``h800``, ``h20``, ``a100``, ``a800``, ``l40s``,
``l40``, ``l4``, ``l20``, ``l2``, ``rtx-4090``, ``rtx-4090d``, ``rtx-4080``, ``b200``, ``mi300x``; other
parts get ids in the same style (``rtx-3090``, ``a6000``, ``rtx-6000-ada``, ``v100``...). Two
catalog choices are followed on purpose: a bare Akash ``h100`` (no interface attribute) is
``h100-sxm`` and Vast's "H100 NVL" (a PCIe card) is ``h100-pcie``; both H100 forms are 3A090.a, so
the export-control class does not depend on the choice. The raw name is always kept beside the id.
"""

from __future__ import annotations

import re

# id -> market -> real spellings seen (Vast snapshot 2024-11-05, Akash provider-configs gpus.json,
# io.net docs, Golem stats frontends, Clore clients). Tests check every entry resolves to its id.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "h100-sxm": {"vastai": ("H100 SXM", "H100 SXM5"), "akash": ("h100", "vendor/nvidia/model/h100/ram/80Gi/interface/sxm", "h100/interface/sxm5"),
                 "golem": ("NVIDIA H100 80GB HBM3",), "ionet": ("H100 80GB HBM3",), "nosana": ("NVIDIA H100",)},
    "h100-pcie": {"vastai": ("H100 PCIE", "H100 NVL"), "akash": ("h100/ram/80Gi/interface/pcie",), "ionet": ("H100 PCIe",)},
    "h200": {"vastai": ("H200", "H200 NVL"), "akash": ("h200", "h200nvl"), "ionet": ("H200 141GB HBM3e",)},
    "h800": {"vastai": ("H800",), "akash": ("h800",)},
    "h20": {"vastai": ("H20",), "akash": ("h20",)},
    "a100": {"vastai": ("A100 SXM4", "A100 PCIE", "A100X"), "akash": ("a100", "vendor/nvidia/model/a100/ram/40Gi/interface/sxm4"),
             "ionet": ("A100-SXM4-80GB", "NVIDIA A100 PCIE-80GB"), "nosana": ("NVIDIA A100 80GB",)},
    "a800": {"vastai": ("A800",), "akash": ("a800",)},
    "l40s": {"vastai": ("L40S",), "akash": ("l40s",), "ionet": ("L40S",)},
    "l40": {"vastai": ("L40",), "akash": ("l40",)},
    "l4": {"vastai": ("L4",), "akash": ("l4",), "ionet": ("L4",)},
    "l20": {"vastai": ("L20",)},
    "l2": {"vastai": ("L2",)},
    "rtx-4090": {"vastai": ("RTX 4090",), "akash": ("rtx4090", "4090"), "golem": ("NVIDIA GeForce RTX 4090",),
                 "ionet": ("GeForce RTX 4090",), "clore": ("1x NVIDIA GeForce RTX 4090",), "nosana": ("NVIDIA 4090", "RTX 4090")},
    "rtx-4090d": {"vastai": ("RTX 4090D", "RTX 4090 D"), "akash": ("rtx4090d",)},
    "rtx-4080": {"vastai": ("RTX 4080", "RTX 4080S"), "akash": ("rtx4080", "rtx4080s")},
    "rtx-3090": {"vastai": ("RTX 3090",), "akash": ("rtx3090",), "golem": ("NVIDIA GeForce RTX 3090",),
                 "clore": ("2x NVIDIA GeForce RTX 3090",), "nosana": ("NVIDIA 3090",)},
    "rtx-3090-ti": {"vastai": ("RTX 3090 Ti",), "akash": ("rtx3090ti",)},
    "rtx-3080": {"vastai": ("RTX 3080",), "akash": ("rtx3080",), "clore": ("1x NVIDIA GeForce RTX 3080",)},
    "rtx-4070-ti-super": {"vastai": ("RTX 4070S Ti",)},
    "rtx-3060-laptop": {"vastai": ("RTX 3060 laptop",), "akash": ("rtx3060m",)},
    "rtx-5090": {"akash": ("rtx5090",)},
    "a6000": {"vastai": ("RTX A6000",), "akash": ("rtxa6000",), "ionet": ("RTX A6000",), "nosana": ("NVIDIA A6000",)},
    "a5000": {"vastai": ("RTX A5000",), "akash": ("a5000",)},
    "a4000": {"vastai": ("RTX A4000",)},
    "a2000": {"vastai": ("RTX A2000",), "akash": ("rtxa2000",)},
    "rtx-6000-ada": {"vastai": ("RTX 6000Ada",)},
    "rtx-4000-ada": {"vastai": ("RTX 4000Ada",), "akash": ("rtx4000ada", "rtx4000sada")},
    "quadro-rtx-6000": {"vastai": ("Q RTX 6000",), "akash": ("rtx6000",)},
    "rtx-pro-6000": {"akash": ("pro6000we", "pro6000se", "pro6000mq")},
    "a40": {"vastai": ("A40",), "akash": ("a40",)},
    "v100": {"vastai": ("Tesla V100",), "akash": ("v100",)},
    "t4": {"vastai": ("Tesla T4",), "akash": ("t4",)},
    "b200": {"vastai": ("B200",), "akash": ("b200",)},
    "mi300x": {"vastai": ("MI300X", "Instinct MI300X"), "akash": ("mi300x",)},
}

_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|tesla|amd|radeon|instinct|graphics|gpu|corporation)\b")
_MEM = re.compile(r"\b\d+\s*(gb|gib|g)\b")
_COUNT = re.compile(r"^\s*(\d+)\s*x\s+", re.I)

# Ordered (pattern on the compact name, id). The compact name is lower-case, vendor words and memory
# sizes removed, no separators: "NVIDIA A100 PCIE-80GB" -> "a100pcie".
_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), i) for p, i in [
    (r"^h100.*nvl", "h100-pcie"), (r"^h100.*pcie", "h100-pcie"), (r"^h100", "h100-sxm"),
    (r"^gh200", "gh200"), (r"^h200", "h200"), (r"^h800", "h800"), (r"^h20(?!\d)", "h20"),
    (r"^gb200", "gb200"), (r"^b200", "b200"), (r"^b300", "b300"), (r"^b100", "b100"),
    (r"^a100", "a100"), (r"^a800", "a800"), (r"^l40s", "l40s"), (r"^l40(?!\d)", "l40"),
    (r"^l4(?!\d)", "l4"), (r"^l20(?!\d)", "l20"), (r"^l2(?!\d)", "l2"),
    (r"^(rtx)?pro6000", "rtx-pro-6000"),
    (r"^rtx(\d{4})[se]?ada", "rtx-{0}-ada"),
    (r"^(q|quadro)rtx(\d{4})$", "quadro-rtx-{1}"), (r"^rtx(4000|5000|6000|8000)$", "quadro-rtx-{0}"),
    (r"^(rtx)?a(\d{4})", "a{1}"),
    (r"^a(10|16|30|40|2)(g?)$", "a{0}{1}"),
    (r"^(v100|p100|p6000|p5000|p4000|p2000|m4000|p40|p4|t4|k80|m60)(?!\d)", "{0}"),
    (r"^(quadro)?(k\d{3,4})$", "quadro-{1}"), (r"^(mx\d{3})$", "{0}"), (r"^gt(\d{3,4})$", "gt-{0}"),
    (r"^titan(v|xp|rtx)$", "titan-{0}"),
    (r"^mi(300x|325x|250x|250|210|100|60|50)", "mi{0}"),
    (r"^rx(\d{4})(xtx|xt)?$", "rx-{0}{1}"),
]]
_CONSUMER = re.compile(r"^(rtx|gtx)?(\d{3,4})((?:ti|super|s|d|laptop|m)*)$")
_IFACE = re.compile(r"(pcie|sxm\d?)$")


def compact(raw: str) -> str:
    """The spelling-independent key of a GPU name: lower-case, no vendor words, sizes or separators."""
    s = _COUNT.sub("", raw.strip().lower())
    s = _VENDOR_WORDS.sub(" ", s)
    s = _MEM.sub(" ", s)
    s = re.sub(r"hbm\d?e?", " ", s)
    return re.sub(r"[^a-z0-9]", "", s)


def _akash_model(raw: str) -> str:
    """``[capabilities/gpu/]vendor/nvidia/model/h100/ram/80Gi/interface/sxm`` or ``h100/interface/pcie``
    -> "h100 sxm" (model plus interface; the RAM segment does not change the id)."""
    parts = [p for p in raw.strip().strip("/").split("/") if p]
    if "model" in parts:
        parts = parts[parts.index("model") + 1:]
    model = parts[0] if parts else ""
    iface = parts[parts.index("interface") + 1] if "interface" in parts and parts.index("interface") + 1 < len(parts) else ""
    return f"{model} {iface}".strip()


def _consumer(c: str) -> str | None:
    m = _CONSUMER.match(c)
    if not m or (m.group(1) is None and (len(m.group(2)) != 4 or m.group(2)[0] not in "2345")):
        return None
    num, suf = m.group(2), m.group(3)
    fam = m.group(1) or "rtx"
    if fam == "rtx" and (len(num) == 3 or num[0] == "1"):
        fam = "gtx"
    out = f"{fam}-{num}"
    tokens = re.findall(r"ti|super|laptop|s|d|m", suf)
    if "d" in tokens:
        out += "d"
    if "ti" in tokens:
        out += "-ti"
    if "super" in tokens or "s" in tokens:
        out += "-super"
    if "laptop" in tokens or "m" in tokens:
        out += "-laptop"
    # The catalog files the 4080 Super under the 4080 (same 3A090 class: both under TPP 4800).
    return "rtx-4080" if out == "rtx-4080-super" else out


def gpu_id(market: str, raw_name: str | None) -> str | None:
    """The catalog id of a GPU as a market names it, or None when the name cannot be placed.

    ``market`` selects how the raw name is read first: ``akash`` takes attribute paths
    (``vendor/nvidia/model/h100/ram/80Gi/interface/sxm``) or bare models; ``clore`` strips the
    leading "2x"; others (``vastai``, ``golem``, ``nosana``, ``ionet``) are free text.
    """
    if not raw_name or not isinstance(raw_name, str):
        return None
    name = _akash_model(raw_name) if market == "akash" else raw_name
    c = compact(name)
    if not c:
        return None
    for pat, out in _RULES:
        m = pat.match(c if out.startswith("h100") else _IFACE.sub("", c))
        if m:
            return out.format(*[g or "" for g in m.groups()]) if m.groups() else out
    return _consumer(_IFACE.sub("", c))


def gpu_count(market: str, raw_name: str | None) -> int | None:
    """The unit count a market writes into the name ("2x NVIDIA GeForce RTX 3090" on Clore), else None."""
    if not raw_name:
        return None
    m = _COUNT.match(raw_name)
    return int(m.group(1)) if m else None
