"""Tests of the Python client and the `sparsefit` command (client/), most against a real server."""
