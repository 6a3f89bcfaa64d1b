"""One module per page; each has `register(platform)`, called by `mount_ui`."""
