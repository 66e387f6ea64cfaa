"""The Elasticsearch-compatible surface: log shippers and Elastic clients write lines as if to Elasticsearch."""
