"""FastMCP's own proxy in front of one MCP backend: the peer in the front-end benchmark.

Usage: python fastmcp_proxy.py BACKEND_URL PORT

Serves MCP Streamable HTTP (JSON responses, like vmcp) at http://127.0.0.1:PORT/mcp, forwarding
to BACKEND_URL with `fastmcp.server.create_proxy` (FastMCP 4's successor of `FastMCP.as_proxy`).
"""

import sys

from fastmcp.server import create_proxy


def main() -> None:
    backend, port = sys.argv[1], int(sys.argv[2])
    proxy = create_proxy(backend, name="fastmcp-proxy")
    proxy.run(
        transport="http",
        host="127.0.0.1",
        port=port,
        path="/mcp",
        json_response=True,
        show_banner=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
