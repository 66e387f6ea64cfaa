"""Loki's query API and LogQL over logriver's lines, for Grafana's built-in Loki data source."""
