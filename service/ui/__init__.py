"""The web page's static files (static/) and the vendored Swagger UI and ReDoc bundles (static/vendor/)."""
