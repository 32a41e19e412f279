"""Tests for connectors.addresses: real OFAC addresses, checksums, and properties of the encodings.

Sanctions matching is exact, so the tests insist on two things: every real listed address normalises
to one canonical form, and a corrupted address (typo, case-folded base58) is rejected, never "fixed".
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path

import base58
import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connectors.addresses import (
    ASSET_CHAINS,
    BITCOIN_ALPHABET,
    RIPPLE_ALPHABET,
    AddressError,
    base58check_decode,
    base58check_encode,
    bech32_decode,
    bech32_encode,
    canonical_chain,
    cashaddr_decode,
    cashaddr_encode,
    chain_for_asset,
    is_evm,
    normalize,
    segwit_decode,
    segwit_encode,
    wallet_id,
)

REPO = Path(__file__).resolve().parents[1]
OFAC_DIR = (
    Path(os.environ.get("TRACER_FIXTURES", REPO.parent / "shared" / "fixtures")) / "ofac-0xb10c" / "latest"
)

# Entries in the OFAC lists that are genuinely not addresses of the listed asset's chain.
KNOWN_INVALID = {
    # A Tron address (base58check version 0x41) filed under XBT; it is valid on Tron.
    ("XBT", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"): "it looks like a tron address",
    # 64 hex digits: a key or transaction id, not a Monero address (those are 95/106 base58 chars).
    ("XMR", "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320"): "got 64 (64 hex digits",
}

EIP55_VECTORS = [  # from the EIP-55 specification
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
HEX = "0123456789abcdefABCDEF"
MUTATION_CHARS = BITCOIN_ALPHABET + "0OIl" + string.ascii_lowercase + ":-_ "


def _lines(asset: str) -> list[str]:
    path = OFAC_DIR / f"sanctioned_addresses_{asset}.txt"
    if not OFAC_DIR.is_dir():
        pytest.skip(f"OFAC fixtures not found at {OFAC_DIR} (set TRACER_FIXTURES)")
    if not path.exists():
        pytest.skip(f"no {asset} list in {OFAC_DIR}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _eip55(hex40: str) -> str:
    """Independent EIP-55 reference: upper-case a hex letter when its keccak nibble is >= 8."""
    h = keccak(text=hex40.lower()).hex()
    return "0x" + "".join(c.upper() if int(h[i], 16) >= 8 else c for i, c in enumerate(hex40.lower()))


def _to5(data: bytes) -> list[int]:
    n, bits = int.from_bytes(data, "big"), len(data) * 8
    pad = -bits % 5
    return [(n << pad >> (5 * i)) & 31 for i in reversed(range((bits + pad) // 5))]


def _xmr_encode(raw: bytes) -> str:
    """Monero base58: 8-byte blocks -> 11 chars, a final partial block -> its fixed width."""
    widths = (0, 2, 3, 5, 6, 7, 9, 10, 11)
    out = ""
    for i in range(0, len(raw), 8):
        block = raw[i : i + 8]
        out += base58.b58encode_int(int.from_bytes(block, "big")).decode().rjust(widths[len(block)], "1")
    return out


def _xmr_decode(address: str) -> bytes:
    """The inverse of :func:`_xmr_encode`, to check the encoder against real addresses."""
    widths = (0, 2, 3, 5, 6, 7, 9, 10, 11)
    out = b""
    for i in range(0, len(address), 11):
        block = address[i : i + 11]
        out += base58.b58decode_int(block).to_bytes(widths.index(len(block)), "big")
    return out


def _mutations(address: str, chars: str = MUTATION_CHARS) -> Iterator[str]:
    for i, original in enumerate(address):
        for c in chars:
            if c != original:
                yield address[:i] + c + address[i + 1 :]


def _rejected(chain: str, address: str) -> bool:
    try:
        normalize(chain, address)
    except AddressError:
        return True
    return False


# -- real OFAC data --------------------------------------------------------------------------------


@pytest.mark.parametrize("asset", sorted(ASSET_CHAINS))
def test_every_ofac_address_normalises(asset: str) -> None:
    failures: dict[str, str] = {}
    for address in _lines(asset):
        chain = chain_for_asset(asset, address)
        try:
            canonical = normalize(chain, address)
        except AddressError as e:
            failures[address] = str(e)
            continue
        assert normalize(chain, canonical) == canonical
        assert normalize(chain, f"  {address}\n") == canonical
        if chain == "evm":
            assert canonical == address.lower()
        elif chain == "bitcoin-cash":
            assert canonical.startswith("bitcoincash:")
        elif address[:3].lower() in ("bc1", "ltc"):
            assert canonical == address.lower()
        else:  # base58: case-sensitive, returned unchanged
            assert canonical == address
    expected = {a: why for (code, a), why in KNOWN_INVALID.items() if code == asset}
    assert set(failures) == set(expected), failures
    for address, why in expected.items():
        assert why in failures[address]


def test_known_invalid_entries_are_what_we_say() -> None:
    _lines("XBT")
    assert normalize("tron", "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq") == "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"
    hex64 = "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320"
    for chain in ("monero", "bitcoin", "solana", "tron", "evm"):
        assert _rejected(chain, hex64)


def test_every_fixture_asset_is_mapped() -> None:
    _lines("XBT")
    codes = {p.stem.rsplit("_", 1)[1] for p in OFAC_DIR.glob("sanctioned_addresses_*.txt")}
    assert codes <= set(ASSET_CHAINS), codes - set(ASSET_CHAINS)


def test_lowercased_base58_is_rejected_with_advice() -> None:
    legacy = [a for a in _lines("XBT") if a[0] in "13"]
    assert len(legacy) > 300
    for address in legacy:
        with pytest.raises(AddressError, match="looks lower-cased; use the address exactly as published"):
            normalize("bitcoin", address.lower())
    for asset in ("LTC", "DASH", "TRX", "XRP", "ZEC", "BTG", "XVG", "BSV", "XMR"):
        for address in _lines(asset):
            if (asset, address) not in KNOWN_INVALID:
                with pytest.raises(AddressError, match="lower-cased"):
                    normalize(chain_for_asset(asset, address), address.lower())


def test_lowercased_message_is_exact() -> None:
    with pytest.raises(AddressError) as info:
        normalize("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa".lower())
    assert str(info.value) == (
        '"1a1zp1ep5qgefi2dmptftl5slmv7divfna" is not a valid bitcoin address: base58 addresses are '
        "case-sensitive and this one looks lower-cased; use the address exactly as published"
    )


def test_bech32_fixtures_accept_upper_case_and_reject_mixed() -> None:
    for address in [a for a in _lines("XBT") if a.startswith("bc1")]:
        assert normalize("bitcoin", address.upper()) == address
        mixed = address[:-1] + address[-1].upper() if address[-1].isalpha() else "BC1" + address[3:]
        with pytest.raises(AddressError, match="not mixed"):
            normalize("bitcoin", mixed)


def test_single_character_mutations_of_real_checksummed_addresses_are_rejected() -> None:
    """Every substitution, including case flips, in one real address per checksummed encoding."""
    samples = [
        (asset, _lines(asset)[0]) for asset in ("XBT", "LTC", "DASH", "TRX", "XRP", "ZEC", "BTG", "XVG")
    ]
    samples += [("XBT", next(a for a in _lines("XBT") if a.startswith("bc1q") and len(a) == 62))]
    samples += [("BCH", a) for a in _lines("BCH")[:2]] + [("XMR", _lines("XMR")[0])]
    for asset, address in samples:
        chain = chain_for_asset(asset, address)
        chars = RIPPLE_ALPHABET if chain == "ripple" else MUTATION_CHARS
        accepted = [m for m in _mutations(address, chars + string.ascii_uppercase) if not _rejected(chain, m)]
        assert accepted == [], (asset, address)


def test_evm_mutations_of_a_real_checksummed_address() -> None:
    """Exhaustive over one real EIP-55 address: only a checksum-consistent spelling is ever accepted."""
    address = next(a for a in _lines("ETH") if a[2:] not in (a[2:].lower(), a[2:].upper()))
    canonical = normalize("evm", address)
    for mutated in _mutations(address, HEX):
        body = mutated[2:]
        should_accept = body in (body.lower(), body.upper()) or _eip55(body) == mutated
        if not should_accept:
            assert _rejected("evm", mutated), mutated
            continue
        got = normalize("evm", mutated)
        assert got == mutated.lower()
        assert (got == canonical) == (mutated.lower() == address.lower())
    # A single case flip leaves this address mixed-case with a wrong checksum: always rejected.
    for i, c in enumerate(address[2:], start=2):
        if c.isalpha():
            assert _rejected("evm", address[:i] + c.swapcase() + address[i + 1 :])


# -- EVM / EIP-55 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_vectors(address: str) -> None:
    canonical = address.lower()
    assert normalize("ethereum", address) == canonical
    assert normalize("evm", canonical) == canonical
    assert normalize("bsc", "0x" + address[2:].upper()) == canonical
    i = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    flipped = address[:i] + address[i].swapcase() + address[i + 1 :]
    with pytest.raises(AddressError, match="bad EIP-55 checksum"):
        normalize("evm", flipped)


@pytest.mark.parametrize(
    "bad",
    [
        "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",  # no 0x
        "0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae",  # 39 digits
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed0",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1 beaed",
        "0x５aaeb6053f3e94c9b9a09f33669435e7ef1beaed",  # full-width digit
        "",
        "   ",
    ],
)
def test_evm_malformed(bad: str) -> None:
    with pytest.raises(AddressError) as info:
        normalize("evm", bad)
    assert "\n" not in str(info.value)


def test_wallet_id_and_chain_names() -> None:
    a = EIP55_VECTORS[0]
    assert wallet_id("polygon", a) == f"wallet:evm:{a.lower()}"
    assert {wallet_id(c, a) for c in ("evm", "Ethereum", "arbitrum", "base", "optimism", "etc", "bsc")} == {
        f"wallet:evm:{a.lower()}"
    }
    assert is_evm("polygon") and is_evm(" BSC ") and not is_evm("tron") and not is_evm("bitcoin")
    assert (
        wallet_id("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
        == "wallet:bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    )
    assert canonical_chain("osmo") == "osmosis"
    with pytest.raises(AddressError, match="unknown chain"):
        normalize("dogecoin", "D8xyz")
    assert issubclass(AddressError, ValueError)


def test_chain_for_asset() -> None:
    assert chain_for_asset("XBT", "anything") == "bitcoin"
    assert chain_for_asset("eth", "0x") == "evm"
    assert chain_for_asset("USDT", "0x175d44451403Edf28469dF03A9280c1197ADb92c") == "evm"
    assert chain_for_asset("USDT", "TEAqwfMhXLaomXhZ8KeMhx3njGmQEDnsUR") == "tron"
    assert chain_for_asset("USDT", "16iWn2J1McqjToYLHSsAyS6En3QA8YQ91H") == "bitcoin"  # Omni Layer
    with pytest.raises(AddressError, match="cannot tell the chain"):
        chain_for_asset("USDT", "rnXyVQzgxZe7TR1EPzTkGj2jxH4LMJYh66")
    with pytest.raises(AddressError, match="unknown OFAC asset code"):
        chain_for_asset("DOGE", "D")
    for chain in {c for v in ASSET_CHAINS.values() for c in v.split("|")}:
        assert canonical_chain(chain) == chain


# -- other chains -------------------------------------------------------------------------------------


def test_bitcoin_vectors() -> None:
    assert normalize("bitcoin", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4") == (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    )
    for good in (  # BIP-350: taproot, and a v2 program in bech32m
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    ):
        assert normalize("bitcoin", good) == good
    # v0 with a bech32m checksum; v1 and v2 with bech32 (valid before BIP-350).
    for bad in (
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
        bech32_encode("bc", [1, *_to5(bytes(range(32)))]),
        "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
    ):
        with pytest.raises(AddressError, match="witness v0 needs a bech32 checksum and v1"):
            normalize("bitcoin", bad)
    with pytest.raises(AddressError, match="bech32 address with prefix 'tb'"):
        normalize("bitcoin", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")
    with pytest.raises(AddressError, match="bech32 checksum does not match"):
        normalize("bitcoin", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5")
    assert (
        normalize("bitcoin-sv", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    )
    with pytest.raises(AddressError, match="bech32 address with prefix 'bc'"):
        normalize("bitcoin-sv", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    with pytest.raises(AddressError, match="EVM"):
        normalize("bitcoin", EIP55_VECTORS[0].lower())


def test_bitcoin_cash_cashaddr_vectors() -> None:
    # From the CashAddr specification: the same hash in legacy and CashAddr form.
    p2pkh = "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"
    p2sh = "bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"
    assert normalize("bitcoin-cash", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu") == p2pkh
    assert normalize("bch", "3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC") == p2sh
    assert normalize("bitcoin-cash", p2pkh.split(":")[1].upper()) == p2pkh
    assert normalize("bitcoin-cash", p2pkh.upper()) == p2pkh
    with pytest.raises(AddressError, match="not mixed"):
        normalize("bitcoin-cash", "bitcoincash:Qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a")
    with pytest.raises(AddressError, match="expected 'bitcoincash'"):
        normalize("bitcoin-cash", "bchtest:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a")
    with pytest.raises(AddressError, match="version"):
        normalize("bitcoin-cash", "LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb")


def test_tron_ripple_zcash_solana() -> None:
    assert normalize("ripple", "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh") == "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
    with pytest.raises(AddressError, match="version 0x42 is not 0x41"):
        normalize("tron", base58check_encode(b"\x42" + bytes(20)))
    t3 = base58check_encode(b"\x1c\xbd" + bytes(range(20)))
    assert t3.startswith("t3") and normalize("zcash", t3) == t3
    with pytest.raises(AddressError, match="payload is 21 bytes, expected 22"):
        normalize("zcash", base58check_encode(b"\x1c\xb8" + bytes(19)))
    for sol in ("11111111111111111111111111111111", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"):
        assert normalize("solana", sol) == sol
    with pytest.raises(AddressError, match="decodes to 31 bytes"):
        normalize("solana", base58.b58encode(b"\x01" * 31).decode())


def test_monero() -> None:
    body = bytes([19]) + bytes(range(72))
    integrated = _xmr_encode(body + keccak(body)[:4])
    assert len(integrated) == 106 and normalize("monero", integrated) == integrated
    testnet = bytes([53]) + bytes(range(64))
    with pytest.raises(AddressError, match="not a mainnet address"):
        normalize("monero", _xmr_encode(testnet + keccak(testnet)[:4]))
    for address in [a for a in _lines("XMR") if len(a) == 95]:
        raw = _xmr_decode(address)
        assert _xmr_encode(raw) == address and keccak(raw[:-4])[:4] == raw[-4:]


def test_cosmos() -> None:
    akash = bech32_encode("akash", _to5(bytes(range(20))))
    assert normalize("akash", akash.upper()) == akash
    assert wallet_id("akash", akash) == f"wallet:akash:{akash}"
    with pytest.raises(AddressError, match="expected 'akash'"):
        normalize("akash", bech32_encode("cosmos", _to5(bytes(range(20)))))
    osmo = bech32_encode("osmo", _to5(bytes(32)))
    assert normalize("osmosis", osmo) == osmo == normalize("osmo", osmo)
    with pytest.raises(AddressError, match="20- or 32-byte"):
        normalize("cosmos", bech32_encode("cosmos", _to5(bytes(21))))


def test_messages_are_one_line() -> None:
    for chain, bad in [
        ("bitcoin", "1A1z\nP1eP5"),
        ("evm", "0x\r\n12"),
        ("monero", "4" * 95),
        ("akash", "akash1\x00"),
    ]:
        with pytest.raises(AddressError) as info:
            normalize(chain, bad)
        assert "\n" not in str(info.value) and "\r" not in str(info.value)


# -- properties -----------------------------------------------------------------------------------------

EVM_CHAIN_NAMES = st.sampled_from(
    ["evm", "ethereum", "polygon", "arbitrum", "bsc", "base", "optimism", "etc"]
)


@given(st.binary(min_size=20, max_size=20), EVM_CHAIN_NAMES)
def test_evm_idempotent_and_case_insensitive(raw: bytes, chain: str) -> None:
    checksummed = to_checksum_address(raw)
    canonical = normalize(chain, checksummed)
    assert canonical == "0x" + raw.hex()
    assert normalize(chain, canonical) == canonical
    assert normalize(chain, "0x" + checksummed[2:].upper()) == canonical
    assert normalize(chain, checksummed.lower()) == canonical
    assert wallet_id(chain, checksummed) == wallet_id("evm", canonical)


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["checksummed", "lower", "upper"]), st.data())
def test_evm_single_hex_mutation(raw: bytes, spelling: str, data: st.DataObject) -> None:
    """A mutation is accepted only as a uniform-case or EIP-55 spelling, and maps to the original
    wallet only if it changed nothing but case (e.g. flipping the only letter of an all-lower input)."""
    checksummed = to_checksum_address(raw)
    body = {"checksummed": checksummed[2:], "lower": raw.hex(), "upper": raw.hex().upper()}[spelling]
    address = "0x" + body
    i = data.draw(st.integers(2, 41))
    c = data.draw(st.sampled_from(HEX))
    assume(c != address[i])
    mutated = address[:i] + c + address[i + 1 :]
    mbody = mutated[2:]
    if mbody in (mbody.lower(), mbody.upper()) or _eip55(mbody) == mutated:
        got = normalize("evm", mutated)
        assert got == mutated.lower()
        assert (got == "0x" + raw.hex()) == (c.lower() == address[i].lower())
    else:
        with pytest.raises(AddressError, match="bad EIP-55 checksum"):
            normalize("evm", mutated)


@given(st.binary(min_size=20, max_size=20), st.integers(0, 41), st.sampled_from("gxzGXO -"))
def test_evm_non_hex_mutation_rejected(raw: bytes, i: int, c: str) -> None:
    address = to_checksum_address(raw)
    assume(address[i] != c)
    assert _rejected("evm", address[:i] + c + address[i + 1 :])


WITNESS = st.integers(0, 16).flatmap(
    lambda v: st.tuples(
        st.just(v),
        st.binary(min_size=20, max_size=20) | st.binary(min_size=32, max_size=32)
        if v == 0
        else st.binary(min_size=2, max_size=40),
    )
)


@given(WITNESS, st.sampled_from([("bitcoin", "bc"), ("litecoin", "ltc")]))
def test_segwit_round_trip(witness: tuple[int, bytes], chain_hrp: tuple[str, str]) -> None:
    (version, program), (chain, hrp) = witness, chain_hrp
    address = segwit_encode(hrp, version, program)
    assert segwit_decode(hrp, address) == (version, program)
    assert normalize(chain, address) == address
    assert normalize(chain, address.upper()) == address


@given(
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=15),
    st.lists(st.integers(0, 31), max_size=60),
    st.booleans(),
)
def test_bech32_round_trip(hrp: str, data: list[int], bech32m: bool) -> None:
    assert bech32_decode(bech32_encode(hrp, data, bech32m=bech32m)) == (hrp, data, bech32m)


@given(WITNESS, st.data())
def test_segwit_single_mutation_rejected(witness: tuple[int, bytes], data: st.DataObject) -> None:
    """bech32/bech32m detect every single substitution; a case flip makes the string mixed-case."""
    address = segwit_encode("bc", *witness)
    i = data.draw(st.integers(0, len(address) - 1))
    c = data.draw(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7l1bioQPZBL "))
    assume(c != address[i])
    assert _rejected("bitcoin", address[:i] + c + address[i + 1 :])


@given(st.binary(min_size=1, max_size=64), st.sampled_from([BITCOIN_ALPHABET, RIPPLE_ALPHABET]))
def test_base58check_round_trip(payload: bytes, alphabet: str) -> None:
    encoded = base58check_encode(payload, alphabet)
    assert encoded == base58.b58encode_check(payload, alphabet=alphabet.encode()).decode()
    assert base58check_decode(encoded, alphabet) == payload


BASE58_CHAINS = {
    "bitcoin": b"\x00", "litecoin": b"\x32", "dash": b"\x4c", "bitcoin-gold": b"\x17", "verge": b"\x1e",
    "zcash": b"\x1c\xbd", "tron": b"\x41", "ripple": b"\x00", "bitcoin-sv": b"\x05",
}  # fmt: skip


@given(st.sampled_from(sorted(BASE58_CHAINS)), st.binary(min_size=20, max_size=20), st.data())
def test_base58check_address_round_trip_and_mutation(chain: str, h: bytes, data: st.DataObject) -> None:
    alphabet = RIPPLE_ALPHABET if chain == "ripple" else BITCOIN_ALPHABET
    address = base58check_encode(BASE58_CHAINS[chain] + h, alphabet)
    assert normalize(chain, address) == address
    i = data.draw(st.integers(0, len(address) - 1))
    c = data.draw(st.sampled_from(alphabet))
    assume(c != address[i])
    assert _rejected(chain, address[:i] + c + address[i + 1 :])


@given(st.sampled_from([0, 1]), st.binary(min_size=20, max_size=20), st.data())
@settings(max_examples=50)
def test_cashaddr_round_trip_and_mutation(kind: int, h: bytes, data: st.DataObject) -> None:
    address = cashaddr_encode("bitcoincash", kind, h)
    assert cashaddr_decode(address) == (kind, h)
    assert normalize("bitcoin-cash", address) == address
    assert normalize("bitcoin-cash", address.split(":")[1]) == address
    assert normalize("bitcoin-cash", base58check_encode(bytes([5 * kind]) + h)) == address
    body = address.split(":")[1]
    i = data.draw(st.integers(0, len(body) - 1))
    c = data.draw(st.sampled_from("qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZ"))
    assume(c != body[i])
    assert _rejected("bitcoin-cash", body[:i] + c + body[i + 1 :])
