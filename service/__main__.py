"""`python -m service`: serve the API with uvicorn on the host and port from Settings."""

from __future__ import annotations


def main() -> None:
    # Imported here, not at module level: worker processes re-import the main module when they
    # start, and they must not load the web stack.
    import logging

    import uvicorn

    from service.app import create_app
    from service.config import Settings

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(max(settings.shutdown_grace_s, 1)),
    )


if __name__ == "__main__":
    main()
