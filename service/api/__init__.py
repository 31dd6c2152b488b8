"""Everything HTTP: routers per resource, schemas, problem handlers, dependencies."""
