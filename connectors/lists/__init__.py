"""Restricted-party sources: OFAC (SDN, addresses), CSL, UN, OpenSanctions, address-attribution tags."""
