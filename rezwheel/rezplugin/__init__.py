"""The rez package repository plugin (entry point ``rez.plugins.package_repository``)."""
