/* autotrader's charts on TradingView Lightweight Charts (vendor/): the same functions draw the
   dashboard's charts and the self-contained report's. Data come as the JSON API serves them:
   series as columns over a `time` column (UTC seconds), candles as [time, open, high, low,
   close], fills as markers.
   Every chart is kept in AutotraderCharts.registry under its name (the browser tests read it). */
(function () {
  "use strict";
  var LW = window.LightweightCharts;
  var registry = {};
  var COLORS = {
    agent: "#2563eb", hold: "#9ca3af", matched: "#d97706", drawdown: "#dc2626",
    exposure: "#7c3aed", buy: "#1d4ed8", sell: "#ea580c", position: "#0891b2",
    up: "#16a34a", down: "#dc2626", mean: "#111827", band: "#60a5fa"
  };
  var STEPS = 1; /* LineType.WithSteps */
  var money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function two(n) { return n < 10 ? "0" + n : "" + n; }
  function utcText(seconds) {
    var d = new Date(seconds * 1000);
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) +
      " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }
  function moneyFormat() { return { type: "custom", minMove: 0.01, formatter: function (p) { return money.format(p); } }; }
  function pctFormat(digits) {
    return { type: "custom", minMove: 0.001, formatter: function (p) { return p.toFixed(digits) + "%"; } };
  }
  function make(el, extra) {
    var options = {
      autoSize: true,
      layout: { background: { color: "#ffffff" }, textColor: "#374151", fontSize: 12,
        fontFamily: "system-ui, -apple-system, Segoe UI, sans-serif", attributionLogo: true },
      grid: { vertLines: { color: "#f3f4f6" }, horzLines: { color: "#f3f4f6" } },
      rightPriceScale: { borderVisible: false },
      timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false },
      localization: { timeFormatter: utcText },
      crosshair: { mode: 0 }
    };
    for (var key in (extra || {})) { options[key] = extra[key]; }
    return LW.createChart(el, options);
  }
  function pairs(times, values, scale) {
    var k = scale || 1, out = new Array(times.length);
    for (var i = 0; i < times.length; i++) { out[i] = { time: times[i], value: values[i] * k }; }
    return out;
  }
  function keep(name, chart, series, more) {
    if (registry[name]) { registry[name].chart.remove(); }
    registry[name] = Object.assign({ chart: chart, series: series }, more || {});
    chart.timeScale().fitContent();
    return registry[name];
  }
  function line(chart, color, title, width, pane) {
    return chart.addSeries(LW.LineSeries, {
      color: color, lineWidth: width || 2, title: title, priceFormat: moneyFormat(),
      lastValueVisible: true, priceLineVisible: false
    }, pane || 0);
  }

  /* Equity against buy & hold and exposure-matched buy & hold. */
  function equity(el, s) {
    var chart = make(el);
    var series = {
      hold: line(chart, COLORS.hold, "buy & hold", 1),
      matched: line(chart, COLORS.matched, "buy & hold at the agent's exposure", 1),
      equity: line(chart, COLORS.agent, "agent", 2)
    };
    series.hold.setData(pairs(s.time, s.hold));
    series.matched.setData(pairs(s.time, s.matched));
    series.equity.setData(pairs(s.time, s.equity));
    return keep("equity", chart, series);
  }

  /* Drawdown: percent below the running peak, drawn downwards. */
  function drawdown(el, s) {
    var chart = make(el);
    var area = chart.addSeries(LW.AreaSeries, {
      lineColor: COLORS.drawdown, topColor: "rgba(220,38,38,0.05)", bottomColor: "rgba(220,38,38,0.35)",
      lineWidth: 1, title: "below peak", priceFormat: pctFormat(2), priceLineVisible: false,
      invertFilledArea: true
    });
    area.setData(pairs(s.time, s.drawdown, -100));
    return keep("drawdown", chart, { drawdown: area });
  }

  /* Exposure: the share of equity held in the base asset. */
  function exposure(el, s) {
    var chart = make(el);
    var area = chart.addSeries(LW.AreaSeries, {
      lineColor: COLORS.exposure, topColor: "rgba(124,58,237,0.35)", bottomColor: "rgba(124,58,237,0.03)",
      lineWidth: 1, lineType: STEPS, title: "exposure", priceFormat: pctFormat(1),
      priceLineVisible: false
    });
    area.setData(pairs(s.time, s.exposure, 100));
    return keep("exposure", chart, { exposure: area });
  }

  var LABELLED_FILLS = 30; /* more fills than this in view: arrows only, or the labels overlap */

  function markersOf(fills, labelled) {
    return fills.map(function (f) {
      var buy = f.side === "BUY";
      return {
        time: f.time, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown",
        color: buy ? COLORS.buy : COLORS.sell, size: 1,
        text: labelled ? f.side + " " + f.qty + " @ " + f.price : ""
      };
    }).sort(function (a, b) { return a.time - b.time; });
  }

  /* Label the fills (side, quantity, price) whenever few enough of them are in view. */
  function labelWhenRoomy(kept) {
    var shown = null;
    function update() {
      var range = kept.chart.timeScale().getVisibleRange();
      var inView = !range ? kept.fills.length : kept.fills.filter(function (f) {
        return f.time >= range.from && f.time <= range.to;
      }).length;
      var labelled = inView <= LABELLED_FILLS;
      if (labelled !== shown) {
        shown = labelled;
        kept.markers = markersOf(kept.fills, labelled);
        kept.plugin.setMarkers(kept.markers);
      }
    }
    kept.chart.timeScale().subscribeVisibleTimeRangeChange(update);
    kept.relabel = function () { shown = null; update(); };
    update();
  }

  /* Candles with every fill marked on its bar, and the position beneath in its own pane. */
  function market(el, m) {
    var chart = make(el, { timeScale: { timeVisible: true, secondsVisible: false, borderVisible: false, minBarSpacing: 0.2 } });
    var candles = chart.addSeries(LW.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, wickUpColor: COLORS.up, wickDownColor: COLORS.down,
      borderVisible: false, priceFormat: moneyFormat(), title: "price"
    });
    candles.setData(m.candles.map(function (c) {
      return { time: c[0], open: c[1], high: c[2], low: c[3], close: c[4] };
    }));
    var plugin = LW.createSeriesMarkers(candles, []);
    var position = chart.addSeries(LW.LineSeries, {
      color: COLORS.position, lineWidth: 2, lineType: STEPS, title: "position",
      priceFormat: { type: "custom", minMove: 0.00000001, formatter: function (p) { return p.toFixed(5); } },
      priceLineVisible: false
    }, 1);
    position.setData(pairs(m.position.time, m.position.value));
    var panes = chart.panes();
    if (panes.length > 1) { panes[1].setHeight(110); }
    var kept = keep("market", chart, { candles: candles, position: position },
      { fills: m.fills, markers: [], plugin: plugin });
    labelWhenRoomy(kept);
    return kept;
  }

  /* One arm's posterior mean with its 95% interval, in basis points per experiment. */
  function posterior(el, name, path) {
    var chart = make(el);
    var fmt = { type: "custom", minMove: 0.01, formatter: function (p) { return p.toFixed(1) + " bp"; } };
    var opts = function (color, width, style, title) {
      return { color: color, lineWidth: width, lineStyle: style, title: title, priceFormat: fmt,
        priceLineVisible: false, lastValueVisible: false };
    };
    var low = chart.addSeries(LW.LineSeries, opts(COLORS.band, 1, 2, ""));
    var high = chart.addSeries(LW.LineSeries, opts(COLORS.band, 1, 2, ""));
    var mean = chart.addSeries(LW.LineSeries, opts(COLORS.mean, 2, 0, "mean"));
    var at = function (i) { return path.points.map(function (p) { return { time: p[0], value: p[i] }; }); };
    mean.setData(at(1)); low.setData(at(2)); high.setData(at(3));
    mean.createPriceLine({ price: 0, color: "#9ca3af", lineWidth: 1, lineStyle: 1, axisLabelVisible: false });
    return keep(name, chart, { mean: mean, low: low, high: high });
  }

  /* Replace a drawn chart's data (the pages' live updates). */
  function refresh(name, data) {
    var kept = registry[name];
    if (!kept) { return; }
    if (name === "equity") {
      kept.series.equity.setData(pairs(data.time, data.equity));
      kept.series.hold.setData(pairs(data.time, data.hold));
      kept.series.matched.setData(pairs(data.time, data.matched));
    } else if (name === "drawdown") {
      kept.series.drawdown.setData(pairs(data.time, data.drawdown, -100));
    } else if (name === "exposure") {
      kept.series.exposure.setData(pairs(data.time, data.exposure, 100));
    } else if (name === "market") {
      kept.series.candles.setData(data.candles.map(function (c) {
        return { time: c[0], open: c[1], high: c[2], low: c[3], close: c[4] };
      }));
      kept.fills = data.fills;
      kept.relabel();
      kept.series.position.setData(pairs(data.position.time, data.position.value));
    }
  }

  window.AutotraderCharts = {
    equity: equity, drawdown: drawdown, exposure: exposure, market: market, posterior: posterior,
    refresh: refresh, registry: registry, colors: COLORS, utcText: utcText
  };
})();
