"""``python -m miniprogram_stub.fake_wechat --port 8001 [--host 127.0.0.1]``: the fake platform alone."""

from __future__ import annotations

import argparse

from miniprogram_stub.fake_wechat.routes import PREFIX, create_fake_app


def main(argv: list[str] | None = None) -> None:
    """Serve the fake platform in this one process until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m miniprogram_stub.fake_wechat",
        description=f"A local fake of WeChat's server-side API, at http://HOST:PORT{PREFIX}/",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
    args = parser.parse_args(argv)
    app = create_fake_app()
    # One process: the platform's state is in memory, and workers would each have their own.
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
