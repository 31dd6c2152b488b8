"""The practical limit: a bare FastAPI route that reads the body and answers a constant list.

`python -m bench.serving_bare --port P --rows N`: uvicorn with the loop and HTTP parser the service
uses (uvloop when installed, httptools), no access log. The answer is the JSON Sparsefit would send
for N rows, written once at start-up: what remains is the framework's and the server's own cost.
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response


def create_app(rows: int) -> FastAPI:
    app = FastAPI()
    answers = {n: orjson.dumps({"predictions": [152.13] * n}) for n in (1, rows)}

    @app.post("/predict/{n}")
    async def predict(n: int, request: Request) -> Response:
        await request.body()  # read, as any real route must, but not parsed
        return Response(answers.get(n, answers[1]), media_type="application/json")

    @app.get("/healthz")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.rows),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="auto",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
