"""Tools that run from a checkout of aiwork, never from the installed package.

- :mod:`tools.contract` compiles ``contracts/Anchor.vy`` into the committed
  ``src/aiwork/anchor/Anchor.json`` (``scripts/build-contract``);
- :mod:`tools.devnode` starts a local EVM node (anvil) for the anchoring tests and
  ``bench/anchor.py``.
"""
