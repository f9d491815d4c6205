"""Guardrails: a broken model or a broken pipeline pauses itself (see docs/guardrails.md)."""
