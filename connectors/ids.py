"""Every graph id is made and parsed here, and nowhere else.

A node id is ``<kind>:<space>:<key>``: the kind of thing, the namespace its key is unique in (a
chain for wallets and tokens, a marketplace for providers, leases, machines and jobs, a list for
listed entities) and the key itself.  Two kinds have no namespace because their keys are global:
``gpu:<catalog id>`` and ``jurisdiction:<ISO 3166 alpha-2>``.

Why one module: graphs, rules, exports and the store all need "whose lease is this" or "which
chain is this wallet on".  When each answered by splitting strings, a change of layout (Akash's
``bseq``, a second EVM chain) broke them one at a time.  Callers now ask :func:`parse` (or the
small helpers below) and get named parts.

Akash keys carry structure: a deployment is ``<owner>/<dseq>`` and a lease is
``<owner>/<dseq>/<gseq>/<oseq>/<provider>``; :class:`NodeId` exposes ``owner``, ``deployment`` and
``provider_address`` for them.
"""

from __future__ import annotations

from msgspec import Struct

from connectors.addresses import canonical_chain, normalize

#: Kinds whose id has a namespace (``kind:space:key``).
SPACED = frozenset({"wallet", "actor", "provider", "lease", "deployment", "machine", "job", "token", "entity", "offer",
                    "cluster"})
#: Kinds whose key is global (``kind:key``).
GLOBAL = frozenset({"gpu", "jurisdiction"})
KINDS = SPACED | GLOBAL


class IdError(ValueError):
    """Text that is not a node id of a known kind (shown to users as one line)."""


class NodeId(Struct, frozen=True):
    """A parsed node id: ``kind``, ``space`` (chain, market or list; "" for global kinds) and ``key``."""

    kind: str
    space: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.space}:{self.key}" if self.space else f"{self.kind}:{self.key}"

    @property
    def parts(self) -> tuple[str, ...]:
        """The ``/``-separated parts of a structured key (Akash deployments and leases)."""
        return tuple(self.key.split("/"))

    @property
    def owner(self) -> str | None:
        """The owner address of a deployment or lease (the first key part), else None."""
        if self.kind in ("deployment", "lease") and "/" in self.key:
            return self.key.split("/", 1)[0]
        return None

    @property
    def owner_wallet(self) -> str | None:
        """The wallet id of a deployment's or lease's owner, on the same chain."""
        o = self.owner
        return f"wallet:{self.space}:{o}" if o else None

    @property
    def deployment(self) -> str | None:
        """The deployment id a lease belongs to (``deployment:<space>:<owner>/<dseq>``)."""
        p = self.parts
        if self.kind == "lease" and len(p) >= 2:
            return f"deployment:{self.space}:{p[0]}/{p[1]}"
        if self.kind == "deployment":
            return str(self)
        return None

    @property
    def provider_address(self) -> str | None:
        """The provider address of an Akash lease key (its fifth part)."""
        p = self.parts
        return p[4] if self.kind == "lease" and len(p) >= 5 else None

    @property
    def address(self) -> str | None:
        """The address of a wallet or token id."""
        return self.key if self.kind in ("wallet", "token") else None


def parse(text: str) -> NodeId:
    """``"wallet:evm:0xab.."`` -> NodeId("wallet", "evm", "0xab.."); raises :class:`IdError`."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS:
        raise IdError(f"{text[:80]!r} is not a node id (kinds: {', '.join(sorted(KINDS))})")
    if kind in GLOBAL:
        if not rest:
            raise IdError(f"{text[:80]!r} has no key")
        return NodeId(kind, "", rest)
    space, sep, key = rest.partition(":")
    if not sep or not space or not key:
        raise IdError(f"{text[:80]!r} is not {kind}:<space>:<key>")
    return NodeId(kind, space, key)


def try_parse(text: str) -> NodeId | None:
    """:func:`parse`, or None for text that is not a node id."""
    try:
        return parse(text)
    except IdError:
        return None


def kind_of(text: str) -> str:
    """The kind prefix of an id (``wallet`` for ``wallet:evm:0x..``), without validating the rest."""
    return text.partition(":")[0]


def space_of(text: str) -> str:
    """The namespace of an id (chain / market / list), "" for global kinds or non-ids."""
    n = try_parse(text)
    return n.space if n else ""


def key_of(text: str) -> str:
    """The key of an id (the address of a wallet), or the text itself when it is not an id."""
    n = try_parse(text)
    return n.key if n else text


# ---- makers -------------------------------------------------------------------------------------
def wallet(chain: str, address: str) -> str:
    """``wallet:<chain>:<canonical address>``; every EVM chain is ``evm``; raises AddressError."""
    return f"wallet:{canonical_chain(chain)}:{normalize(chain, address)}"


def wallet_raw(space: str, address: str) -> str:
    """A wallet id from an address already canonical for ``space`` (hot paths, no re-validation)."""
    return f"wallet:{space}:{address}"


def provider(market: str, key: str) -> str:
    return f"provider:{market}:{key}"


def deployment(market: str, owner: str, dseq: str | int) -> str:
    return f"deployment:{market}:{owner}/{dseq}"


def lease(market: str, key: str) -> str:
    return f"lease:{market}:{key}"


def akash_lease_key(owner: str, dseq: str | int, gseq: int, oseq: int, provider_address: str) -> str:
    """The key of an Akash lease: ``<owner>/<dseq>/<gseq>/<oseq>/<provider>``."""
    return f"{owner}/{dseq}/{gseq}/{oseq}/{provider_address}"


def machine(market: str, key: str | int) -> str:
    return f"machine:{market}:{key}"


def job(market: str, key: str) -> str:
    return f"job:{market}:{key}"


def offer(market: str, key: str | int) -> str:
    return f"offer:{market}:{key}"


def token(chain: str, address: str) -> str:
    return f"token:{chain}:{address}"


def entity(list_id: str, uid: str) -> str:
    return f"entity:{list_id}:{uid}"


def gpu(catalog_id: str) -> str:
    return f"gpu:{catalog_id}"


def jurisdiction(iso: str) -> str:
    return f"jurisdiction:{iso.strip().upper()}"


# ---- appended (issue 13): prefixes for hot paths, edge ids, chain subjects, EVM transfer edges ------
def prefix(kind: str, space: str) -> str:
    """``<kind>:<space>:``, the id of a spaced kind without its key: hot paths that make an id per
    row concatenate the key to it (``prefix("wallet", "evm") + a`` == ``wallet_raw("evm", a)``)."""
    return f"{kind}:{space}:"


def edge(source: str, *parts: str | int) -> str:
    """An edge id a fact source makes from its own stable key: ``edge:<source>:<part>:<part>...``."""
    return ":".join(("edge", source, *map(str, parts)))


def chain_subject(chain: str) -> str:
    """``chain:<name>``: the subject of facts about a chain itself (its block clock); not a graph node."""
    return f"chain:{chain}"


def evm_transfer_edge_prefix(chain: str, block: int) -> str:
    """``evm:<chain>:<block, 12 digits>:``: the ids of one block's transfers (:func:`evm_transfer_edge`)."""
    return f"evm:{chain}:{block:012d}:"


def evm_transfer_edge(chain: str, block: int, log_index: int) -> str:
    """``evm:<chain>:<block, 12 digits>:<log index, 6 digits>``: an EVM Transfer log's place on its chain.

    Why not the tx hash: ids in chain order make every sync append to the end of the primary-key
    index instead of inserting at random places, which halved the store's write time (docs/evm.md),
    and let the store find a block range's transfers by an id range (:func:`evm_transfer_edge_range`).
    (block, log index) is unique on the canonical chain; a reorg rewind deletes the replaced blocks'
    rows before their new logs are written.  The tx hash is the edge's ``tx`` column.
    """
    return f"{evm_transfer_edge_prefix(chain, block)}{log_index:06d}"


def parse_evm_transfer_edge(text: str) -> tuple[str, int, int]:
    """``"evm:ethereum:000000000012:000003"`` -> ("ethereum", 12, 3); raises :class:`IdError`."""
    head, sep, rest = text.partition(":")
    parts = rest.rsplit(":", 2) if sep else []
    if head != "evm" or len(parts) != 3 or not parts[0] or not (parts[1].isdigit() and parts[2].isdigit()):
        raise IdError(f"{text[:80]!r} is not evm:<chain>:<block>:<log index>")
    return parts[0], int(parts[1]), int(parts[2])


def evm_transfer_edge_range(chain: str, after: int, upto: int) -> tuple[str, str]:
    """(lo, hi): the transfer edges of ``chain`` in blocks (after, upto] are exactly the ids with
    ``lo <= id < hi`` (a range scan of the edges' primary key; ids sort by block)."""
    return evm_transfer_edge_prefix(chain, after + 1), evm_transfer_edge_prefix(chain, upto + 1)


# ---- appended (issue 13): GPU catalog ids and chain subjects, read back ------------------------------
def gpu_catalog_id(text: str) -> str:
    """The catalog id a GPU id names (``gpu:h100-sxm`` -> ``h100-sxm``); a bare catalog id (as attrs,
    config and the catalog spell it) is returned as is.  Cheap: called per edge on big graphs."""
    return text[4:] if text.startswith("gpu:") else text


def chain_of_subject(text: str) -> str:
    """The chain a :func:`chain_subject` names (``chain:akash`` -> ``akash``); other text as is."""
    return text[6:] if text.startswith("chain:") else text


# ---- appended (issue 13): attribution actors -------------------------------------------------------
def actor(space: str, key: str) -> str:
    """``actor:<tag source>:<actor id>``: an actor of an attribution-tag source (GraphSense actor packs).
    Not a graph node kind (no edge reaches it; :func:`parse` refuses it), an entity row all the same."""
    return f"actor:{space}:{key}"
