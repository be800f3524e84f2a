"""Guardrails: the deposit cap as the SDK output guardrail on the Judge."""
