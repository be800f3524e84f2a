"""A stateful Binance spot exchange in process, plugged under ccxt at the HTTP transport.

`FakeBinance` keeps the book of record (orders by client id, their fills and fees, balances) and
answers the REST endpoints autotrader's ccxt client calls, as of a shared SimulatedClock: real
candles from the bundled data, the recorded exchangeInfo, a ticker, the account, market orders
(by quantity, or quoteOrderQty for a quote-sized buy), and lookups by origClientOrderId,
allOrders and myTrades. It checks every signed request's HMAC with the test's dummy secret.
`mount(exchange)` puts it on a ccxt exchange's requests session as a transport adapter, so
ccxt's own request signing, response parsing and error mapping all run unchanged; a FaultPlan
decides what goes wrong with each request.

Like Binance, a client order id is unique only among open orders: a market order sent again
with the id of one that already executed executes again. The book records it; the storm's
invariants count it.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from http.client import RemoteDisconnected
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from autotrader.agents.providers import ModelSet
from autotrader.clock import SimulatedClock, to_ms
from autotrader.config import TIMEFRAME_SECONDS, Settings, bundled_data_path, load_settings
from autotrader.core.boot import RunOptions
from autotrader.exchange.candles import Candle, resample
from autotrader.exchange.ccxt_venue import build_exchange
from autotrader.exchange.rules import BUNDLED_RULES
from tests.fakes import faults as kinds
from tests.fakes.faults import Fault, FaultPlan

API_KEY = "fake-binance-key-not-real"
API_SECRET = "fake-binance-secret-not-real"
BASE_MS = 300_000  # the bundled candles' step (5m)
AMOUNT_STEP, MIN_QTY, MIN_NOTIONAL = Decimal("0.00001"), Decimal("0.00001"), Decimal(5)
TICK = Decimal("0.01")
EIGHT = Decimal("0.00000001")
SYMBOL, BASE, QUOTE = "BTCUSDT", "BTC", "USDT"
JSON = "application/json;charset=UTF-8"


def fake_settings(db: Path | None = None) -> Settings:
    """Testnet mode with the fake's keys, quiet, on `db`."""
    return load_settings(
        env_file=None,
        mode="testnet",
        exchange_api_key=API_KEY,
        exchange_api_secret=API_SECRET,
        log_level="WARNING",
        db_path=db,
    )


def text8(value: Decimal) -> str:
    """A quantity as Binance writes it: eight decimals."""
    return f"{value.quantize(EIGHT):f}"


@dataclass
class FakeOrder:
    """One executed market order and its single fill, as the exchange recorded it."""

    order_id: int
    client_order_id: str
    side: str
    orig_qty: Decimal
    quote_order_qty: Decimal
    executed_qty: Decimal
    quote_qty: Decimal
    price: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    visible_ms: int  # lookups see it from then on (they can lag behind the matching engine)
    trade_id: int

    def as_order(self, *, fills: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "symbol": SYMBOL,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": "0.00000000",
            "origQty": text8(self.orig_qty),
            "executedQty": text8(self.executed_qty),
            "origQuoteOrderQty": text8(self.quote_order_qty),
            "cummulativeQuoteQty": text8(self.quote_qty),
            "status": "FILLED",
            "timeInForce": "GTC",
            "type": "MARKET",
            "side": self.side,
            "workingTime": self.time_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if fills:  # the POST's FULL answer
            body["transactTime"] = self.time_ms
            body["fills"] = [
                {
                    "price": text8(self.price),
                    "qty": text8(self.executed_qty),
                    "commission": text8(self.commission),
                    "commissionAsset": self.commission_asset,
                    "tradeId": self.trade_id,
                }
            ]
        else:  # GET /order and allOrders
            body.update(
                stopPrice="0.00000000",
                icebergQty="0.00000000",
                time=self.time_ms,
                updateTime=self.time_ms,
                isWorking=True,
            )
        return body

    def as_trade(self) -> dict[str, Any]:
        return {
            "symbol": SYMBOL,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": text8(self.price),
            "qty": text8(self.executed_qty),
            "quoteQty": text8(self.quote_qty),
            "commission": text8(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": False,
            "isBestMatch": True,
        }


Answer = tuple[int, Any]  # HTTP status, JSON body
Handler = Callable[["FakeBinance", dict[str, str]], Answer]


def error(status: int, code: int, message: str) -> Answer:
    return status, {"code": code, "msg": message}


class FakeBinance:
    """The exchange: its book of record, its market, and its endpoints."""

    def __init__(
        self,
        clock: SimulatedClock,
        candles: list[Candle],
        faults: FaultPlan,
        *,
        balances: Mapping[str, Decimal],
        fee_rate: Decimal = Decimal("0.001"),
        book_offset: Decimal = Decimal(0),  # a thin book: buys fill this fraction above
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.balances = {BASE: Decimal(0), QUOTE: Decimal(0), **balances}
        self.orders: list[FakeOrder] = []
        self.unexpected: list[str] = []  # requests no real client should send
        self.requests = 0
        self.inside_retry_after = 0  # requests that did not wait out a 429/418
        self.max_position_value = Decimal(0)  # BTC held x ticker, after each fill
        self.max_position_at_fill = Decimal(0)  # BTC held x the price it last paid
        self._fee_rate = fee_rate
        self._offset = book_offset
        self._candles = candles
        self._opens = [candle.ts for candle in candles]
        self._resampled: dict[int, tuple[list[Candle], list[int]]] = {}
        self._banned_until_ms = 0
        self._exchange_info = json.loads(
            gzip.decompress(bundled_data_path(BUNDLED_RULES).read_bytes())
        )

    def mount(self, exchange: Any) -> Any:
        """Serve `exchange` (a ccxt binance) from here; returns it."""
        exchange.session.mount("https://", Transport(self))
        exchange.enableRateLimit = False  # ccxt's own throttle sleeps in wall time
        return exchange

    def exchange(self, settings: Settings) -> Any:
        """A ccxt exchange as autotrader builds one for `settings`, served from here."""
        return self.mount(build_exchange(settings))

    def advance(self, seconds: float) -> None:
        """A retry wait, passed on the simulated clock (RunOptions.retry_sleep)."""
        self.clock.advance_to(self.clock.now() + timedelta(seconds=seconds))

    def run_options(self, settings: Settings, models: ModelSet, *, hours: float) -> RunOptions:
        """How `run_agent` runs live on this fake: its exchange, its clock, its retry waits."""
        return RunOptions(
            exchange=self.exchange(settings),
            clock=self.clock,
            hours=hours,
            retry_sleep=self.advance,
            model_set=models,
        )

    # --- the market, as of the clock ---

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    def last_price(self) -> Decimal:
        """The last closed 5m candle's close (the ticker's lastPrice)."""
        closed = bisect_right(self._opens, self.now_ms() - BASE_MS)
        return Decimal(repr(self._candles[closed - 1].close))

    def fill_price(self, side: str) -> Decimal:
        price = self.last_price() * (1 + self._offset if side == "BUY" else 1)
        return price.quantize(TICK, rounding=ROUND_HALF_UP)

    def _klines(self, interval_ms: int, limit: int) -> list[list[Any]]:
        """The newest `limit` candles opened by now, the one still open included (built from the
        5m candles closed so far, as Binance reports it mid-candle)."""
        if interval_ms not in self._resampled:
            merged = resample(self._candles, BASE_MS, interval_ms)
            self._resampled[interval_ms] = (merged, [c.ts for c in merged])
        merged, opens = self._resampled[interval_ms]
        now = self.now_ms()
        opened = bisect_right(opens, now)
        rows = list(merged[max(0, opened - limit) : opened])
        if rows and rows[-1].ts + interval_ms > now:
            rows[-1] = self._partial(rows[-1].ts, now)
        return [
            [
                c.ts,
                *(f"{value:.8f}" for value in (c.open, c.high, c.low, c.close, c.volume)),
                c.ts + interval_ms - 1,
                "0.00000000",  # the bundled data has no quote volume, trade count or taker split
                0,
                "0.00000000",
                "0.00000000",
                "0",
            ]
            for c in rows
        ]

    def _partial(self, bucket_ms: int, now: int) -> Candle:
        first = bisect_right(self._opens, bucket_ms - 1)
        closed = self._candles[first : bisect_right(self._opens, now - BASE_MS)]
        if not closed:  # nothing closed yet in it: its first price only
            current = self._candles[bisect_right(self._opens, now) - 1]
            return Candle(bucket_ms, current.open, current.open, current.open, current.open, 0.0)
        return Candle(
            bucket_ms,
            closed[0].open,
            max(c.high for c in closed),
            min(c.low for c in closed),
            closed[-1].close,
            sum(c.volume for c in closed),
        )

    # --- the endpoints ---

    def exchange_info(self, params: dict[str, str]) -> Answer:
        return 200, {**self._exchange_info, "serverTime": self.now_ms()}

    def klines(self, params: dict[str, str]) -> Answer:
        interval = TIMEFRAME_SECONDS.get(params.get("interval", ""))
        if params.get("symbol") != SYMBOL or interval is None:
            return error(400, -1121, "Invalid symbol.")
        return 200, self._klines(interval * 1000, min(1000, int(params.get("limit", 500))))

    def ticker(self, params: dict[str, str]) -> Answer:
        if params.get("symbol") != SYMBOL:
            return error(400, -1121, "Invalid symbol.")
        day = self._klines(BASE_MS, 288)
        last, first = Decimal(day[-1][4]), Decimal(day[0][1])
        now = self.now_ms()
        return 200, {
            "symbol": SYMBOL,
            "priceChange": text8(last - first),
            "priceChangePercent": f"{(last - first) / first * 100:.3f}",
            "weightedAvgPrice": text8(last),
            "prevClosePrice": text8(first),
            "lastPrice": text8(self.last_price()),
            "lastQty": "0.00000000",
            "bidPrice": text8(self.fill_price("SELL")),
            "bidQty": "0.00000000",
            "askPrice": text8(self.fill_price("BUY")),
            "askQty": "0.00000000",
            "openPrice": text8(first),
            "highPrice": text8(max(Decimal(row[2]) for row in day)),
            "lowPrice": text8(min(Decimal(row[3]) for row in day)),
            "volume": text8(sum((Decimal(row[5]) for row in day), Decimal(0))),
            "quoteVolume": "0.00000000",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 0,
            "lastId": 0,
            "count": 0,
        }

    def account(self, params: dict[str, str]) -> Answer:
        return 200, {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": self.now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": text8(amount), "locked": "0.00000000"}
                for asset, amount in self.balances.items()
            ],
            "permissions": ["SPOT"],
        }

    def place(self, params: dict[str, str]) -> Answer:
        """POST /api/v3/order: a MARKET order fills at once, completely, or is refused."""
        if params.get("symbol") != SYMBOL or params.get("type") != "MARKET":
            return error(400, -1102, "Only MARKET orders on BTCUSDT in this fake.")
        side, cid = params.get("side", ""), params.get("newClientOrderId", "")
        price = self.fill_price(side)
        quote_qty = Decimal(params.get("quoteOrderQty", "0"))
        if quote_qty > 0:  # spend at most this: the quantity follows from the fill price
            qty = (quote_qty / price / AMOUNT_STEP).to_integral_value(ROUND_DOWN) * AMOUNT_STEP
        else:
            qty = Decimal(params.get("quantity", "0"))
        if qty < MIN_QTY or qty % AMOUNT_STEP:
            return error(400, -1013, "Filter failure: LOT_SIZE")
        notional = (qty * price).quantize(EIGHT)
        if notional < MIN_NOTIONAL:
            return error(400, -1013, "Filter failure: NOTIONAL")
        spent = self.balances[QUOTE] if side == "BUY" else self.balances[BASE]
        if spent < (notional if side == "BUY" else qty):
            return error(400, -2010, "Account has insufficient balance for requested action.")
        order = self._execute(side, cid, qty, quote_qty, price, notional)
        return 200, order.as_order(fills=True)

    def _execute(
        self,
        side: str,
        cid: str,
        qty: Decimal,
        quote_qty: Decimal,
        price: Decimal,
        notional: Decimal,
    ) -> FakeOrder:
        # Spot commission without BNB: a buy pays in the asset bought, a sell in the quote.
        commission_asset = BASE if side == "BUY" else QUOTE
        fee = ((qty if side == "BUY" else notional) * self._fee_rate).quantize(
            EIGHT, rounding=ROUND_HALF_UP
        )
        if side == "BUY":
            self.balances[BASE] += qty - fee
            self.balances[QUOTE] -= notional
        else:
            self.balances[BASE] -= qty
            self.balances[QUOTE] += notional - fee
        now = self.now_ms()
        number = len(self.orders) + 1
        order = FakeOrder(
            order_id=4_000_000 + number,
            client_order_id=cid,
            side=side,
            orig_qty=Decimal(0) if quote_qty else qty,
            quote_order_qty=quote_qty,
            executed_qty=qty,
            quote_qty=notional,
            price=price,
            commission=fee,
            commission_asset=commission_asset,
            time_ms=now,
            visible_ms=now + int(self.faults.lag_secs() * 1000),
            trade_id=9_000_000 + number,
        )
        self.orders.append(order)
        held = self.balances[BASE]
        self.max_position_value = max(self.max_position_value, held * self.last_price())
        self.max_position_at_fill = max(self.max_position_at_fill, held * price)
        return order

    def _visible(self) -> list[FakeOrder]:
        now = self.now_ms()
        return [order for order in self.orders if order.visible_ms <= now]

    def _count_lag(self, cid: str | None) -> None:
        """Count a lookup that missed an order which exists (its lookups lag): a fault."""
        if cid is not None and any(order.client_order_id == cid for order in self.orders):
            self.faults.count(Fault(kinds.LAG_2013))

    def query(self, params: dict[str, str]) -> Answer:
        """GET /api/v3/order by origClientOrderId (the newest with that id) or orderId."""
        cid, order_id = params.get("origClientOrderId"), params.get("orderId")
        matches = [
            order
            for order in self._visible()
            if (cid is not None and order.client_order_id == cid)
            or (order_id is not None and str(order.order_id) == order_id)
        ]
        found = matches[-1] if matches else None
        if found is None:
            self._count_lag(cid)
            return error(400, -2013, "Order does not exist.")
        return 200, found.as_order()

    def all_orders(self, params: dict[str, str]) -> Answer:
        since = int(params.get("startTime", 0))
        limit = min(1000, int(params.get("limit", 500)))
        shown = [order.as_order() for order in self._visible() if order.time_ms >= since]
        return 200, shown[:limit]

    def my_trades(self, params: dict[str, str]) -> Answer:
        order_id = params.get("orderId")
        return 200, [
            order.as_trade()
            for order in self._visible()
            if order_id is None or str(order.order_id) == order_id
        ]

    def open_orders(self, params: dict[str, str]) -> Answer:
        return 200, []  # market orders never rest on the book

    def cancel_open(self, params: dict[str, str]) -> Answer:
        return error(400, -2011, "Unknown order sent.")

    # --- the wire ---

    def serve(self, request: requests.PreparedRequest) -> requests.Response:
        """One HTTP exchange: faults first, then the signature, then the endpoint."""
        self.requests += 1
        url = urlsplit(request.url or "")
        route = ROUTES.get((request.method or "", url.path))
        if route is None:
            self.unexpected.append(f"{request.method} {url.path}")
            return respond(request, 404, {"code": -1, "msg": "no such endpoint in the fake"})
        handler, signed = route
        now = self.now_ms()
        if now < self._banned_until_ms:
            self.inside_retry_after += 1
        is_order = request.method == "POST"
        endpoint = f"{request.method} {url.path}"
        fault = self.faults.draw(endpoint, signed=signed, now=self.clock.now())
        if fault is not None and not fault.executes:
            return self._fail(request, fault)
        body = request.body
        query = (
            (body.decode() if isinstance(body, bytes) else str(body or ""))
            if is_order
            else url.query
        )
        if signed and not self._signed(query, request.headers.get("X-MBX-APIKEY")):
            self.unexpected.append(f"bad signature on {request.method} {url.path}")
            return respond(request, 401, {"code": -1022, "msg": "Signature is not valid."})
        status, answer = handler(self, dict(parse_qsl(query)))
        if fault is not None:  # executed, and then the answer is lost or garbled
            return self._fail(request, fault)
        return respond(request, status, answer)

    def _signed(self, query: str, key: str | bytes | None) -> bool:
        payload, _, signature = query.rpartition("&signature=")
        expected = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return key == API_KEY and hmac.compare_digest(signature, expected)

    def _fail(self, request: requests.PreparedRequest, fault: Fault) -> requests.Response:
        kind = fault.kind
        if kind == kinds.TIMEOUT:
            raise requests.exceptions.ConnectTimeout("connect timed out", request=request)
        if kind == kinds.TIMEOUT_AFTER:
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)")
        if kind in (kinds.DROP, kinds.DROP_AFTER):
            reason = RemoteDisconnected("Remote end closed connection without response")
            raise requests.exceptions.ConnectionError(("Connection aborted.", reason))
        if kind in (kinds.HTTP_429, kinds.HTTP_418):
            assert fault.retry_after is not None
            self._banned_until_ms = self.now_ms() + fault.retry_after * 1000
            status = 429 if kind == kinds.HTTP_429 else 418
            message = "Too many requests; please use WebSocket Streams for live updates."
            return respond(
                request,
                status,
                {"code": -1003, "msg": message},
                {"Retry-After": str(fault.retry_after)},
            )
        codes = {
            kinds.CODE_1000: (
                500,
                -1000,
                "An unknown error occurred while processing the request.",
            ),
            kinds.CODE_1006: (
                500,
                -1006,
                "An unexpected response was received from the message bus. "
                "Execution status unknown.",
            ),
            kinds.CODE_1007: (
                408,
                -1007,
                "Timeout waiting for response from backend server. "
                "Send status unknown; execution status unknown.",
            ),
            kinds.CODE_1021: (
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ),
        }
        if kind in codes:
            status, code, message = codes[kind]
            return respond(request, status, {"code": code, "msg": message})
        status = {kinds.HTTP_500: 500, kinds.HTTP_502: 502, kinds.HTTP_504: 504}.get(kind, 503)
        page = f"<html><head><title>{status}</title></head><body>{kind}</body></html>"
        return respond(request, status, page, {"Content-Type": "text/html"})


ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("GET", "/api/v3/exchangeInfo"): (FakeBinance.exchange_info, False),
    ("GET", "/api/v3/klines"): (FakeBinance.klines, False),
    ("GET", "/api/v3/ticker/24hr"): (FakeBinance.ticker, False),
    ("GET", "/api/v3/account"): (FakeBinance.account, True),
    ("POST", "/api/v3/order"): (FakeBinance.place, True),
    ("GET", "/api/v3/order"): (FakeBinance.query, True),
    ("GET", "/api/v3/allOrders"): (FakeBinance.all_orders, True),
    ("GET", "/api/v3/myTrades"): (FakeBinance.my_trades, True),
    ("GET", "/api/v3/openOrders"): (FakeBinance.open_orders, True),
    ("DELETE", "/api/v3/openOrders"): (FakeBinance.cancel_open, True),
}


def respond(
    request: requests.PreparedRequest,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 400: "Bad Request", 408: "Request Timeout"}.get(status, "Error")
    text = body if isinstance(body, str) else json.dumps(body)
    response._content = text.encode()
    response.headers = CaseInsensitiveDict({"Content-Type": JSON, **(headers or {})})
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


class Transport(BaseAdapter):
    """A requests transport adapter that hands every request to the fake, in process: no
    socket, no thread, no wall-clock wait."""

    def __init__(self, fake: FakeBinance) -> None:
        super().__init__()
        self._fake = fake

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        return self._fake.serve(request)

    def close(self) -> None:
        return None
