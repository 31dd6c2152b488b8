"""`python -m service`: serve the API with uvicorn on the host and port from Settings."""

from __future__ import annotations


def main() -> None:
    # Imported here, not at module level: worker processes re-import the main module when they
    # start, and they must not load the web stack.
    import logging

    import uvicorn

    from service.api.auth import KeyConfigError, check_exposure, load_key_ring
    from service.config import Settings
    from service.logs import configure as configure_logging

    settings = Settings()
    # One format for every logger, uvicorn's included (SPARSEFIT_LOG_FORMAT=json: JSON lines).
    configure_logging(settings.log_format, settings.log_level)
    try:
        check_exposure(settings, load_key_ring(settings))
    except KeyConfigError as error:
        # Before uvicorn binds anything: a misconfigured service must not come up half-open. A log
        # line, so that it is JSON too under SPARSEFIT_LOG_FORMAT=json (it names no key).
        logging.getLogger("service.startup").error("sparsefit: %s", error)
        raise SystemExit(2) from None
    # The app's imports (pyarrow, scipy, the model code) take a second or two: said before, not after.
    logging.getLogger("service.startup").info("sparsefit starting: importing the application")
    from service.api.http_protocol import HeadLimits, limited_http_protocol
    from service.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # uvicorn configures no handler of its own (its loggers reach ours), and its access line
        # gives way to RequestContext's, which carries the request id, tenant and duration.
        log_config=None,
        access_log=False,
        # httptools with a bound on the request line and header fields (414, 431): on its own it
        # parses a head of any size, a long one in quadratic time.
        http=limited_http_protocol(HeadLimits(settings.max_url_bytes, settings.max_header_bytes)),
        timeout_graceful_shutdown=int(max(settings.shutdown_grace_s, 1)),
        # Above httpx's and most pools' 5 s idle expiry: with equal timeouts a client could reuse a
        # connection the server was closing, and see "disconnected without a response".
        timeout_keep_alive=int(settings.keep_alive_s),
    )


if __name__ == "__main__":
    main()
