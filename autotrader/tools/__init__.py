"""The seed's tool bodies: market data, strategy rules, trading, ledger, memory, portfolio."""
