// SPDX-License-Identifier: Apache-2.0
// Test contracts for tracer's EVM connector tests (compiled once with solcjs 0.8.26, artifact committed).
pragma solidity ^0.8.20;

/// Minimal ERC-20: Transfer(address indexed, address indexed, uint256) with the value in data.
contract TestToken {
    string public name;
    string public symbol;
    uint8 public decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(string memory n, string memory s, uint8 d) { name = n; symbol = s; decimals = d; }

    function mint(address to, uint256 v) external {
        totalSupply += v; balanceOf[to] += v; emit Transfer(address(0), to, v);
    }

    function transfer(address to, uint256 v) external returns (bool) {
        balanceOf[msg.sender] -= v; balanceOf[to] += v; emit Transfer(msg.sender, to, v); return true;
    }
}

/// Minimal ERC-721: the token id is the fourth topic, data is empty.
contract TestNFT {
    mapping(uint256 => address) public ownerOf;
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    function mint(address to, uint256 id) external { ownerOf[id] = to; emit Transfer(address(0), to, id); }

    function transferFrom(address from, address to, uint256 id) external {
        require(ownerOf[id] == from, "not owner"); ownerOf[id] = to; emit Transfer(from, to, id);
    }
}

/// An old-style token: bytes32 symbol, no decimals(), and a Transfer event with nothing indexed
/// (one topic, 96 bytes of data) that must be counted as malformed, never read as a payment.
contract LegacyToken {
    bytes32 public symbol = "LEG";
    event Transfer(address from, address to, uint256 value);

    function transfer(address to, uint256 v) external returns (bool) { emit Transfer(msg.sender, to, v); return true; }
}

/// The Chainalysis sanctions oracle's interface: isSanctioned(address) -> bool.
contract TestOracle {
    mapping(address => bool) private listed;
    function set(address a, bool v) external { listed[a] = v; }
    function isSanctioned(address a) external view returns (bool) { return listed[a]; }
}
