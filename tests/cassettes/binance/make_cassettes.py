"""Build the Binance cassettes in this folder from recorded payloads in ../shared/data/recorded.

Run once from the repository root, beside a `shared/` checkout:
    .venv/bin/python tests/cassettes/binance/make_cassettes.py ../shared/data/recorded

Every response body is a recorded Binance payload unless the `WRITTEN` notes below say
otherwise; tests/cassettes/README.md lists what each cassette holds and where it came from.
The request side (URLs, query parameters) is what this project's CCXT client sends, with the
volatile signed parameters (timestamp, recvWindow, signature) and the API-key header left out,
exactly as the test VCR config filters them.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
REPO = HERE.parent.parent.parent
HOST = "https://testnet.binance.vision"
# The client id our trade tool derives for the idempotency key used in the tests
# (tests/test_ccxt_venue.py: IDEM_KEY); substituted into recorded order payloads where noted.
OUR_CLIENT_ID = "at" + "5f1c3a9e0d2b4c6a8e7f9b1d3c5a7e9f"


def interaction(
    method: str,
    path: str,
    body: Any,
    status: int = 200,
    message: str = "OK",
    content_type: str = "application/json;charset=UTF-8",
    host: str = HOST,
) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {
        "request": {"body": None, "headers": {}, "method": method, "uri": host + path},
        "response": {
            "body": {"string": text},
            "headers": {"Content-Type": [content_type]},
            "status": {"code": status, "message": message},
        },
    }


def write(name: str, interactions: list[dict[str, Any]]) -> None:
    cassette = {"interactions": interactions, "version": 1}
    (HERE / name).write_text(yaml.safe_dump(cassette, sort_keys=False, width=100))
    print("wrote", name, len(interactions), "interactions")


def main(recorded: Path) -> None:
    exchange_info = json.loads(
        gzip.decompress(
            (REPO / "autotrader/data/binance_exchangeinfo_BTCUSDT_ETHUSDT.json.gz").read_bytes()
        )
    )
    klines = json.loads((recorded / "binance_spot_klines_BTCUSDT_1m_raw_response.json").read_text())
    static = json.loads((recorded / "binance_spot_ccxt_static.json").read_text())
    testnet = json.loads((recorded / "binance_testnet_recorded_payloads.json").read_text())
    market_buy = testnet["entries"][0]["parsed"]["result"]  # real testnet MARKET BUY 0.01 BTC
    account = next(e for e in static["fetchBalance"] if e["source"] == "response-fixture")
    ticker = next(e for e in static["fetchTicker"] if e["source"] == "response-fixture")

    load = interaction("GET", "/api/v3/exchangeInfo", exchange_info)
    write("load_markets.yaml", [load])
    write(
        "fetch_ohlcv.yaml",
        [load, interaction("GET", "/api/v3/klines?interval=1m&limit=11&symbol=BTCUSDT", klines)],
    )
    write(
        "fetch_balance.yaml", [load, interaction("GET", "/api/v3/account", account["httpResponse"])]
    )
    write("create_market_order.yaml", [load, interaction("POST", "/api/v3/order", market_buy)])

    # WRITTEN: Binance's GET /api/v3/order answer for the recorded testnet order, in the field
    # layout of ccxt's recorded fetchOrder fixture (no fills/commission, as Binance sends it),
    # with the values of the recorded POST answer.
    queried = {
        key: market_buy[key]
        for key in (
            "symbol",
            "orderId",
            "orderListId",
            "clientOrderId",
            "price",
            "origQty",
            "executedQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
            "workingTime",
            "selfTradePreventionMode",
        )
    }
    queried.update(
        time=market_buy["transactTime"],
        updateTime=market_buy["transactTime"],
        isWorking=True,
        stopPrice="0.00000000",
        icebergQty="0.00000000",
        origQuoteOrderQty="0.00000000",
    )
    # WRITTEN: GET /api/v3/myTrades for that order, one row per recorded fill.
    my_trades = [
        {
            "symbol": "BTCUSDT",
            "id": fill["tradeId"],
            "orderId": market_buy["orderId"],
            "orderListId": -1,
            "price": fill["price"],
            "qty": fill["qty"],
            "quoteQty": f"{float(fill['price']) * float(fill['qty']):.8f}",
            "commission": fill["commission"],
            "commissionAsset": fill["commissionAsset"],
            "time": market_buy["transactTime"],
            "isBuyer": True,
            "isMaker": False,
            "isBestMatch": True,
        }
        for fill in market_buy["fills"]
    ]
    trades_path = f"/api/v3/myTrades?orderId={market_buy['orderId']}&symbol=BTCUSDT"
    write(
        "fetch_order_by_client_id.yaml",
        [
            load,
            interaction(
                "GET",
                f"/api/v3/order?origClientOrderId={market_buy['clientOrderId']}&symbol=BTCUSDT",
                queried,
            ),
            interaction("GET", trades_path, my_trades),
        ],
    )

    # WRITTEN error bodies: Binance's documented 429 answer, then an HTML 503 from its edge.
    too_many = {
        "code": -1003,
        "msg": "Too many requests; current limit of IP is 6000 "
        "requests per minute. Please use WebSocket Streams for live updates.",
    }
    ohlcv_path = "/api/v3/klines?interval=1m&limit=11&symbol=BTCUSDT"
    write(
        "retry_then_success.yaml",
        [
            load,
            interaction("GET", ohlcv_path, too_many, 429, "Too Many Requests"),
            interaction(
                "GET",
                ohlcv_path,
                "<html><body>503 Service Unavailable</body></html>",
                503,
                "Service Unavailable",
                "text/html",
            ),
            interaction("GET", ohlcv_path, klines),
        ],
    )

    # The trade tool's paths. Our client id replaces the recorded one (EDITED) so that the
    # lookup by client id finds "our" order; every other value is the recorded order's.
    ours = {**market_buy, "clientOrderId": OUR_CLIENT_ID}
    ours_queried = {**queried, "clientOrderId": OUR_CLIENT_ID}
    ticker_live = interaction("GET", "/api/v3/ticker/24hr?symbol=BTCUSDT", ticker["httpResponse"])
    lookup = interaction(
        "GET", f"/api/v3/order?origClientOrderId={OUR_CLIENT_ID}&symbol=BTCUSDT", ours_queried
    )
    write("duplicate_placement.yaml", [load, lookup, interaction("GET", trades_path, my_trades)])
    write(
        "order_timeout_then_found.yaml",
        [
            load,
            ticker_live,
            interaction(  # the position limit reads the balances before the order
                "GET",
                "/api/v3/account",
                {
                    **account["httpResponse"],
                    "balances": [
                        {"asset": "BTC", "free": "0.00000000", "locked": "0.00000000"},
                        {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"},
                    ],
                },
            ),
            interaction(
                "POST",
                "/api/v3/order",
                "<html><body>504 Gateway Time-out</body></html>",
                504,
                "Gateway Time-out",
                "text/html",
            ),
            lookup,
            interaction("GET", trades_path, my_trades),
        ],
    )
    write(
        "cap_stops_order.yaml",
        [
            load,
            ticker_live,
            interaction(
                "GET",
                "/api/v3/account",
                {
                    **account["httpResponse"],
                    "balances": [
                        {"asset": "BTC", "free": "0.00002000", "locked": "0.00000000"},
                        {"asset": "USDT", "free": "100.00000000", "locked": "0.00000000"},
                    ],
                },
            ),
        ],
    )
    assert ours["clientOrderId"] == OUR_CLIENT_ID

    # WRITTEN: a permanent error (Binance's documented -1121 answer to an unknown symbol), and
    # DELETE /api/v3/openOrders with nothing open, which Binance answers with 400 -2011
    # (ccxt's recorded fixture has no response for it).
    write(
        "permanent_error.yaml",
        [
            load,
            interaction(
                "GET", ohlcv_path, {"code": -1121, "msg": "Invalid symbol."}, 400, "Bad Request"
            ),
        ],
    )
    write(
        "cancel_all_nothing_open.yaml",
        [
            load,
            interaction(
                "DELETE",
                "/api/v3/openOrders?symbol=BTCUSDT",
                {"code": -2011, "msg": "Unknown order sent."},
                400,
                "Bad Request",
            ),
        ],
    )

    # WRITTEN: a lookup by a client id Binance never saw: 400 -2013 "Order does not exist."
    write(
        "fetch_order_unknown.yaml",
        [
            load,
            interaction(
                "GET",
                f"/api/v3/order?origClientOrderId={OUR_CLIENT_ID}&symbol=BTCUSDT",
                {"code": -2013, "msg": "Order does not exist."},
                400,
                "Bad Request",
            ),
        ],
    )

    # Paper trading on live public data (api.binance.com, no keys): fills walk the recorded
    # order book (ccxt's static fetchOrderBook fixture, BTC/USDT depth 2), asked twice.
    depth = next(e for e in static["fetchOrderBook"] if e["source"] == "response-fixture")
    live = "https://api.binance.com"
    book = interaction(
        "GET", "/api/v3/depth?limit=50&symbol=BTCUSDT", depth["httpResponse"], host=live
    )
    write(
        "paper_live_book.yaml",
        [
            interaction("GET", "/api/v3/exchangeInfo", exchange_info, host=live),
            book,
            book,
        ],
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/data/recorded")
