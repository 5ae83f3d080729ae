"""The web pages, one module per area; ``web.plugin`` mounts them on one router."""
