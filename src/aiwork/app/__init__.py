"""Services that compose the layers below; the CLI, API and UI call these."""
