"""Serving the pushed model: TF Serving itself where it is installed, else a server of the same API."""
