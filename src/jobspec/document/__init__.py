"""The jobspec document: loading (YAML or JSON), its schema and rules, its model."""
