"""``python -m aiwork.api``: print the coordinator's OpenAPI document (docs/openapi.json)."""

from aiwork.api.openapi import published

print(published(), end="")
