"""Venues: where orders go and market rules come from (paper, or CCXT testnet/real)."""
