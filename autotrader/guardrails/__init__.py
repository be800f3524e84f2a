"""Guardrails: the deposit cap as pure math, and as the SDK output guardrail on the Judge."""
