"""autotrader: a research-first autonomous crypto trading agent on the OpenAI Agents SDK."""

__version__ = "0.1.0"
