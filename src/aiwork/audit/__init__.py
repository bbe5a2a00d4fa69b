"""Audit bundles and explanations: everything an auditor needs to check one video offline."""
