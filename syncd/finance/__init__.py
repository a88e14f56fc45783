"""Purchases and receipts over REST, and per-task totals per currency."""
