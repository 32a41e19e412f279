"""Exact per-chain wallet address normalisation for sanctions screening.

A sanctions hit is an exact match on a wallet id, so every address is reduced to one canonical
spelling per wallet, and anything that is not provably a well-formed address of its chain is
rejected: a silently "repaired" typo would either miss a sanctioned wallet or flag an innocent one.
Checksums are always verified (EIP-55, base58check, bech32/bech32m, CashAddr, Monero keccak). Only
case-insensitive encodings (hex, bech32, CashAddr) are case-folded; base58 never is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence


class AddressError(ValueError):
    """An address (or chain) that cannot be used as given; the message is one line saying what to do."""


class _DecodeError(AddressError):
    """Bad character or checksum: the symptom a case-folded base58 address shows."""


BITCOIN_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
RIPPLE_ALPHABET = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"

#: Chain names whose addresses are Ethereum-style; one key controls the address on all of them.
EVM_CHAINS: frozenset[str] = frozenset({
    "evm", "ethereum", "eth", "polygon", "matic", "arbitrum", "bsc", "binance-smart-chain", "base",
    "optimism", "etc", "ethereum-classic", "avalanche", "avax", "fantom", "gnosis", "linea", "scroll",
    "zksync", "blast", "celo", "mantle",
})  # fmt: skip

# base58check version prefixes per chain (all hashes are 20 bytes).
_BASE58_VERSIONS: dict[str, tuple[bytes, ...]] = {
    "bitcoin": (b"\x00", b"\x05"),
    "bitcoin-sv": (b"\x00", b"\x05"),
    "litecoin": (b"\x30", b"\x32", b"\x05"),
    "dash": (b"\x4c", b"\x10"),
    "bitcoin-gold": (b"\x26", b"\x17"),
    "verge": (b"\x1e", b"\x21"),
    "zcash": (b"\x1c\xb8", b"\x1c\xbd"),
    "tron": (b"\x41",),
    "ripple": (b"\x00",),
}
_SEGWIT_HRPS: dict[str, str] = {"bitcoin": "bc", "litecoin": "ltc"}

#: Cosmos-SDK chain name -> the bech32 human-readable part its account addresses must carry.
COSMOS_HRPS: dict[str, str] = {
    "cosmos": "cosmos", "akash": "akash", "osmosis": "osmo", "juno": "juno", "celestia": "celestia",
    "dydx": "dydx", "injective": "inj", "secret": "secret", "kava": "kava", "stargaze": "stars",
    "axelar": "axelar", "noble": "noble", "sei": "sei", "terra": "terra", "neutron": "neutron",
}  # fmt: skip

_ALIASES: dict[str, str] = {
    "btc": "bitcoin", "ltc": "litecoin", "bch": "bitcoin-cash", "bsv": "bitcoin-sv", "btg": "bitcoin-gold",
    "xvg": "verge", "zec": "zcash", "xmr": "monero", "xrp": "ripple", "trx": "tron", "sol": "solana",
    "osmo": "osmosis", "cosmoshub": "cosmos",
}  # fmt: skip
_OTHER_CHAINS = frozenset({"bitcoin-cash", "monero", "solana"})

#: OFAC SDN "Digital Currency Address - <ASSET>" code -> chain. A ``|`` means the chain depends on the
#: address (USDT: 0x… EVM, T… Tron, 1…/3…/bc1… bitcoin Omni Layer): use :func:`chain_for_asset`.
ASSET_CHAINS: dict[str, str] = {
    "XBT": "bitcoin", "ETH": "evm", "XMR": "monero", "LTC": "litecoin", "ZEC": "zcash", "DASH": "dash",
    "BTG": "bitcoin-gold", "ETC": "evm", "BSV": "bitcoin-sv", "BCH": "bitcoin-cash", "XVG": "verge",
    "USDC": "evm", "USDT": "evm|tron|bitcoin", "XRP": "ripple", "TRX": "tron", "ARB": "evm", "BSC": "evm",
    "SOL": "solana",
}  # fmt: skip
_CHAIN_PREFIXES: dict[str, tuple[str, ...]] = {
    "evm": ("0x", "0X"), "tron": ("T",), "bitcoin": ("1", "3", "bc1", "BC1"),
}  # fmt: skip

_LOWERCASED = (
    "base58 addresses are case-sensitive and this one looks lower-cased; use the address exactly as published"
)
_TYPO = "check for a typo and copy the address exactly as published"


def is_evm(chain: str) -> bool:
    """True for Ethereum-style chains, whose wallets share one id across chains (same key, same address)."""
    return chain.strip().lower() in EVM_CHAINS


def canonical_chain(chain: str) -> str:
    """The chain name used in wallet ids ("evm" for every EVM chain), so aliases can't split a wallet."""
    name = chain.strip().lower()
    if name in EVM_CHAINS:
        return "evm"
    name = _ALIASES.get(name, name)
    if name in _BASE58_VERSIONS or name in COSMOS_HRPS or name in _OTHER_CHAINS:
        return name
    known = sorted({"evm", *_BASE58_VERSIONS, *COSMOS_HRPS, *_OTHER_CHAINS})
    raise AddressError(f"unknown chain {chain!r}; use one of: {', '.join(known)}")


# -- base58 / base58check ----------------------------------------------------------------------


def _b58decode(s: str, alphabet: str) -> bytes:
    n = 0
    for ch in s:
        i = alphabet.find(ch)
        if i < 0:
            raise _DecodeError(f"character {ch!r} is not in the base58 alphabet; {_TYPO}")
        n = n * 58 + i
    zeros = len(s) - len(s.lstrip(alphabet[0]))
    return b"\x00" * zeros + n.to_bytes((n.bit_length() + 7) // 8, "big")


def _b58encode(data: bytes, alphabet: str) -> str:
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n:
        n, r = divmod(n, 58)
        out.append(alphabet[r])
    return alphabet[0] * (len(data) - len(data.lstrip(b"\x00"))) + "".join(reversed(out))


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def base58check_encode(payload: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    """Encode ``payload`` (version bytes + hash) with its 4-byte double-SHA256 checksum."""
    return _b58encode(payload + _sha256d(payload)[:4], alphabet)


def base58check_decode(s: str, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    """Decode and verify a base58check string; returns the payload. Raises AddressError."""
    raw = _b58decode(s, alphabet)
    if len(raw) < 5:
        raise _DecodeError(f"too short for base58check; {_TYPO}")
    payload, checksum = raw[:-4], raw[-4:]
    if _sha256d(payload)[:4] != checksum:
        raise _DecodeError(f"base58check checksum does not match; {_TYPO}")
    return payload


# -- bech32 / bech32m (BIP-173, BIP-350) --------------------------------------------------------
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3


def _bech32_polymod(values: Sequence[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: Sequence[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad and bits >= frombits or (acc << (tobits - bits)) & maxv:
        raise AddressError(f"invalid padding in the data part; {_TYPO}")
    return out


def _check_one_case(s: str, what: str) -> str:
    if s != s.lower() and s != s.upper():
        raise AddressError(f"{what} must be all lower-case or all upper-case, not mixed; {_TYPO}")
    return s.lower()


def bech32_encode(hrp: str, data: Sequence[int], *, bech32m: bool = False) -> str:
    """Encode 5-bit ``data`` under ``hrp`` with a bech32 (or bech32m) checksum."""
    const = _BECH32M_CONST if bech32m else 1
    polymod = _bech32_polymod(_hrp_expand(hrp) + list(data) + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in [*data, *checksum])


def bech32_decode(bech: str) -> tuple[str, list[int], bool]:
    """Decode and verify a bech32/bech32m string: (hrp, 5-bit data, is_bech32m). Raises AddressError."""
    if any(not 33 <= ord(c) <= 126 for c in bech):
        raise AddressError(f"bech32 strings are printable ASCII only; {_TYPO}")
    bech = _check_one_case(bech, "a bech32 address")
    pos = bech.rfind("1")
    if pos < 1 or pos + 7 > len(bech) or len(bech) > 90:
        raise AddressError(f"malformed bech32 (separator or length); {_TYPO}")
    hrp, rest = bech[:pos], bech[pos + 1 :]
    for c in rest:
        if c not in _BECH32_CHARSET:
            raise AddressError(f"character {c!r} is not in the bech32 alphabet; {_TYPO}")
    data = [_BECH32_CHARSET.index(c) for c in rest]
    const = _bech32_polymod(_hrp_expand(hrp) + data)
    if const not in (1, _BECH32M_CONST):
        raise AddressError(f"bech32 checksum does not match; {_TYPO}")
    return hrp, data[:-6], const == _BECH32M_CONST


def segwit_encode(hrp: str, witver: int, program: bytes) -> str:
    """Encode a segwit address (bech32 for v0, bech32m for v1+), the inverse of :func:`segwit_decode`."""
    if not 0 <= witver <= 16 or not 2 <= len(program) <= 40 or (witver == 0 and len(program) not in (20, 32)):
        raise AddressError(f"invalid witness version {witver} / program length {len(program)}")
    return bech32_encode(hrp, [witver, *_convertbits(program, 8, 5, True)], bech32m=witver != 0)


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    """Decode and fully validate a segwit address for ``hrp``: (witness version, program)."""
    got, data, is_m = bech32_decode(address)
    if got != hrp:
        raise AddressError(f"prefix is {got!r}, expected {hrp!r}; is this an address for another chain?")
    if not data or data[0] > 16:
        raise AddressError(f"missing or invalid witness version; {_TYPO}")
    program = bytes(_convertbits(data[1:], 5, 8, False))
    if not 2 <= len(program) <= 40 or (data[0] == 0 and len(program) not in (20, 32)):
        raise AddressError(f"witness program has invalid length {len(program)}; {_TYPO}")
    if is_m != (data[0] != 0):
        raise AddressError("witness v0 needs a bech32 checksum and v1+ bech32m (BIP-350); " + _TYPO)
    return data[0], program


# -- CashAddr (Bitcoin Cash) ---------------------------------------------------------------------
_CASHADDR_GEN = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
_CASHADDR_SIZES = (20, 24, 28, 32, 40, 48, 56, 64)


def _cashaddr_polymod(values: Sequence[int]) -> int:
    c = 1
    for d in values:
        top = c >> 35
        c = ((c & 0x07FFFFFFFF) << 5) ^ d
        for i in range(5):
            c ^= _CASHADDR_GEN[i] if (top >> i) & 1 else 0
    return c ^ 1


def cashaddr_encode(prefix: str, kind: int, hash_: bytes) -> str:
    """Encode a CashAddr (kind 0 = P2PKH, 1 = P2SH) as ``prefix:...``, lower-case."""
    version = (kind << 3) | _CASHADDR_SIZES.index(len(hash_))
    payload = _convertbits(bytes([version]) + hash_, 8, 5, True)
    poly = _cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + payload + [0] * 8)
    checksum = [(poly >> 5 * (7 - i)) & 31 for i in range(8)]
    return prefix + ":" + "".join(_BECH32_CHARSET[d] for d in payload + checksum)


def cashaddr_decode(address: str, prefix: str = "bitcoincash") -> tuple[int, bytes]:
    """Decode and verify a CashAddr (prefix optional): (kind, hash). Raises AddressError."""
    address = _check_one_case(address, "a CashAddr address")
    got, sep, body = address.rpartition(":")
    if sep and got != prefix:
        raise AddressError(f"prefix is {got!r}, expected {prefix!r}; is this an address for another chain?")
    bad = [c for c in body if c not in _BECH32_CHARSET]
    if bad or len(body) < 10:
        raise AddressError((f"character {bad[0]!r} is not CashAddr" if bad else "too short") + "; " + _TYPO)
    data = [_BECH32_CHARSET.index(c) for c in body]
    if _cashaddr_polymod([ord(c) & 31 for c in prefix] + [0] + data) != 0:
        raise AddressError(f"CashAddr checksum does not match; {_TYPO}")
    raw = bytes(_convertbits(data[:-8], 5, 8, False))
    version, hash_ = raw[0], raw[1:]
    kind = version >> 3
    if version & 0x80 or len(hash_) != _CASHADDR_SIZES[version & 7]:
        raise AddressError(f"CashAddr version byte does not match its length; {_TYPO}")
    if kind not in (0, 1):
        raise AddressError(f"CashAddr type {kind} is not a plain P2PKH/P2SH address; use the q.../p... form")
    return kind, hash_


# -- Monero --------------------------------------------------------------------------------------
_XMR_BLOCK_SIZES = (0, 2, 3, 5, 6, 7, 9, 10, 11)  # encoded chars for 0..8 bytes
_XMR_PREFIXES = {95: (18, 42), 106: (19,)}  # mainnet standard/subaddress; integrated


def _normalize_monero(a: str) -> str:
    if len(a) not in _XMR_PREFIXES:
        hint = " (64 hex digits is a key or transaction id)" if re.fullmatch(r"[0-9a-fA-F]{64}", a) else ""
        raise AddressError(f"must be 95 or 106 characters, got {len(a)}{hint}; use the full address")
    raw = b""  # Monero base58: 8-byte blocks of 11 characters each, then one shorter block
    for start in range(0, len(a), 11):
        block = a[start : start + 11]
        nbytes = _XMR_BLOCK_SIZES.index(len(block))
        value = int.from_bytes(_b58decode(block, BITCOIN_ALPHABET), "big")
        if value >> (8 * nbytes):
            raise _DecodeError(f"a base58 block overflows; {_TYPO}")
        raw += value.to_bytes(nbytes, "big")
    from eth_utils import keccak  # only for Monero: eth_utils (pydantic) is slow to import

    if keccak(raw[:-4])[:4] != raw[-4:]:
        raise _DecodeError(f"keccak checksum does not match; {_TYPO}")
    if raw[0] not in _XMR_PREFIXES[len(a)]:
        raise AddressError(f"network prefix {raw[0]} is not a mainnet address; use a mainnet address")
    return a


# -- per-chain dispatch --------------------------------------------------------------------------
_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")


def _is_checksum_address(a: str) -> bool:
    """EIP-55 check, importing eth_utils (pydantic: slow to import) only for a mixed-case address."""
    from eth_utils import is_checksum_address

    return bool(is_checksum_address(a))


def _normalize_evm(a: str) -> str:
    if not _HEX40.fullmatch(a):
        raise AddressError("expected 0x followed by 40 hex digits; copy the full address")
    body = a[2:]
    if body != body.lower() and body != body.upper() and not _is_checksum_address(a):
        raise AddressError("bad EIP-55 checksum (its mixed case does not match); " + _TYPO)
    return "0x" + body.lower()


def _normalize_base58check(chain: str, a: str) -> str:
    alphabet = RIPPLE_ALPHABET if chain == "ripple" else BITCOIN_ALPHABET
    payload = base58check_decode(a, alphabet)
    versions = _BASE58_VERSIONS[chain]
    version = next((v for v in versions if payload.startswith(v)), None)
    if version is None:
        owners = [c for c, vs in _BASE58_VERSIONS.items() if any(map(payload.startswith, vs))]
        owners = [c for c in owners if c not in (chain, "ripple") and chain != "ripple"]
        hint = f"; it looks like a {' or '.join(owners)} address" if owners else ""
        expected = ", ".join("0x" + v.hex() for v in versions)
        got = payload[: len(versions[0])].hex()
        raise AddressError(f"version 0x{got} is not {expected}{hint}; use a {chain} address")
    if len(payload) != len(version) + 20:
        raise AddressError(f"payload is {len(payload)} bytes, expected {len(version) + 20}; {_TYPO}")
    return a


def _normalize_bitcoin_cash(a: str) -> str:
    if ":" in a or a[:1] in "qpQP":
        kind, hash_ = cashaddr_decode(a)
    else:  # legacy base58: same wallet as its CashAddr, so one canonical (CashAddr) form
        payload = base58check_decode(a)
        if payload[:1] not in (b"\x00", b"\x05") or len(payload) != 21:
            raise AddressError("legacy version is not 0x00/0x05; use a bitcoin-cash address")
        kind, hash_ = (0 if payload[0] == 0 else 1), payload[1:]
    return cashaddr_encode("bitcoincash", kind, hash_)


def _normalize_cosmos(chain: str, a: str) -> str:
    hrp, data, is_m = bech32_decode(a)
    if hrp != COSMOS_HRPS[chain]:
        raise AddressError(f"prefix is {hrp!r}, expected {COSMOS_HRPS[chain]!r}; use a {chain} address")
    if is_m or len(_convertbits(data, 5, 8, False)) not in (20, 32):
        raise AddressError(f"not a 20- or 32-byte bech32 account address; {_TYPO}")
    return a.lower()


def _dispatch(chain: str, a: str) -> str:
    if chain == "evm":
        return _normalize_evm(a)
    if chain in COSMOS_HRPS:
        return _normalize_cosmos(chain, a)
    hrp = _SEGWIT_HRPS.get(chain)
    if hrp and a.startswith((hrp + "1", hrp.upper() + "1")):  # "Ltc1..." may be legacy base58
        segwit_decode(hrp, a)
        return a.lower()
    try:
        if chain == "monero":
            return _normalize_monero(a)
        if chain == "bitcoin-cash":
            return _normalize_bitcoin_cash(a)
        if chain == "solana":  # no checksum: the decoded length is all there is to check
            n = len(_b58decode(a, BITCOIN_ALPHABET))
            if n != 32:
                raise _DecodeError(f"decodes to {n} bytes, expected 32; {_TYPO}")
            return a
        return _normalize_base58check(chain, a)
    except _DecodeError:
        if a.islower():  # a base58 failure on an all-lower-case string: case-folded, or another format
            raise AddressError(_foreign_format(chain, a) or _LOWERCASED) from None
        raise


def _foreign_format(chain: str, a: str) -> str | None:
    if re.fullmatch(r"(0x)?[0-9a-f]+", a):
        kind = "an EVM (0x) address" if _HEX40.fullmatch(a) else "a hex string"
    else:
        try:
            kind = f"a bech32 address with prefix {bech32_decode(a)[0]!r}"
        except AddressError:
            return None
    return f"this is {kind}, not a {chain} address; use a {chain} address"


def _quote(s: str) -> str:
    shown = s if len(s) <= 120 else s[:117] + "..."
    return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def normalize(chain: str, address: str) -> str:
    """Validate ``address`` for ``chain`` and return its canonical form, so wallets match exactly.

    Surrounding whitespace is stripped; checksums are verified. Raises AddressError.
    """
    name = canonical_chain(chain)
    if not isinstance(address, str):
        raise AddressError(f"a {chain} address must be a string, got {type(address).__name__}")
    a = address.strip()
    if not a:
        raise AddressError(f"empty {chain} address; pass the address exactly as published")
    try:
        return _dispatch(name, a)
    except AddressError as e:
        raise AddressError(f"{_quote(a)} is not a valid {chain.strip().lower()} address: {e}") from None


def wallet_id(chain: str, address: str) -> str:
    """The graph id of a wallet: ``wallet:<chain>:<canonical address>``, EVM chains all as ``evm``.

    Kept for callers of this module; ids are made in :mod:`connectors.ids` (:func:`connectors.ids.wallet`),
    which imports this module, hence the import here."""
    from connectors import ids

    return ids.wallet(chain, address)


def chain_for_asset(asset: str, address: str) -> str:
    """The chain of an OFAC digital-currency asset code; USDT is decided by the address's prefix.

    Does not validate the address: pass the result to :func:`normalize`.
    """
    code = asset.strip().upper()
    if code not in ASSET_CHAINS:
        raise AddressError(f"unknown OFAC asset code {asset!r}; add it to ASSET_CHAINS with its chain")
    candidates = ASSET_CHAINS[code].split("|")
    if len(candidates) == 1:
        return candidates[0]
    a = address.strip()
    for chain in candidates:
        if a.startswith(_CHAIN_PREFIXES.get(chain, ())):
            return chain
    raise AddressError(
        f"cannot tell the chain of {code} address {_quote(a)}; use a 0x…, T… or 1…/3…/bc1… one"
    )
