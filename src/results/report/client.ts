/**
 * The report page's script (plain browser JavaScript, inlined by html.ts after Chart.js). It reads
 * the JSON data block and draws: sweep curves per axis and metric (scaling curves for workers and
 * cores), per-core load bars, histograms, and the comparison of the first two runs. Every chart is
 * listed in window.pktbenchCharts (the browser test checks that each has drawn data).
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('pktbench-data').textContent);
  var app = document.getElementById('app');
  var charts = [];
  window.pktbenchCharts = charts;
  var palette = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#0a3069', '#e16f24', '#57606a'];
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  var SCALING = { workers: 1, cores: 1, 'cores.count': 1 };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (typeof v !== 'number' || !isFinite(v)) return String(v);
    var a = Math.abs(v);
    var p = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n']];
    if (v === 0) return '0';
    for (var i = 0; i < p.length; i++) if (a >= p[i][0] * 0.99995) return Number((v / p[i][0]).toPrecision(4)) + p[i][1];
    return v.toExponential(3);
  }
  function section(title) {
    var h = el('h2', null, title);
    var grid = el('div', { class: 'grid' });
    app.appendChild(h);
    app.appendChild(grid);
    return grid;
  }
  function chart(grid, title, config, kind) {
    var box = el('div');
    box.appendChild(el('h3', null, title));
    var holder = el('div', { class: 'chart' });
    var canvas = el('canvas', { 'data-kind': kind, 'aria-label': title, role: 'img' });
    holder.appendChild(canvas);
    box.appendChild(holder);
    grid.appendChild(box);
    charts.push({ title: title, kind: kind, chart: new Chart(canvas, config) });
  }
  function metricNames(run) {
    var seen = [];
    run.results.points.forEach(function (p) { p.metrics.forEach(function (m) { if (seen.indexOf(m.name) < 0) seen.push(m.name); }); });
    return seen;
  }
  function metricOf(point, name) {
    for (var i = 0; i < point.metrics.length; i++) if (point.metrics[i].name === name) return point.metrics[i];
    return null;
  }
  function axisLabel(m) { return m.name + ' (' + m.unit + ', ' + (m.direction === 'higher' ? 'higher' : 'lower') + ' is better)'; }

  function environment(run) {
    var e = run.results.environment;
    var s = run.results.scenario;
    var p = el('p', { class: 'env' });
    p.textContent = run.name + ': scenario ' + s.name + ' (' + s.hash.slice(0, 19) + '…), ' + run.results.points.length + ' of ' + s.totalPoints +
      ' points; pktbench ' + e.pktbenchVersion + ', commit ' + (e.gitCommit ? e.gitCommit.slice(0, 12) : 'unknown') + (e.gitDirty ? ' (dirty)' : '') +
      ', node ' + e.node + ', ' + e.cpuModel + ' × ' + e.cores + ', ' + e.os + ', started ' + e.startedAt;
    app.appendChild(p);
  }

  /** One curve per combination of the other axes; x = the values of this axis in sweep order. */
  function sweepCharts(run, grid, scalingGrid) {
    var axes = run.results.scenario.axes;
    var names = metricNames(run);
    var drawn = 0;
    axes.forEach(function (axis) {
      var numeric = axis.values.every(function (v) { return typeof v === 'number'; });
      var target = SCALING[axis.name] ? scalingGrid : grid;
      names.forEach(function (name) {
        var series = {};
        var sample = null;
        run.results.points.forEach(function (p) {
          var m = metricOf(p, name);
          if (!m) return;
          sample = m;
          var others = Object.keys(p.params).filter(function (k) { return k !== axis.name; }).map(function (k) { return k + '=' + p.params[k]; }).join(', ') || name;
          (series[others] = series[others] || {})[String(p.params[axis.name])] = m.summary;
        });
        if (!sample) return;
        var labels = axis.values.map(String);
        var datasets = Object.keys(series).map(function (label, i) {
          return {
            label: label,
            data: labels.map(function (x) { return series[label][x] ? series[label][x].median : null; }),
            borderColor: palette[i % palette.length],
            backgroundColor: palette[i % palette.length],
            spanGaps: true,
          };
        });
        chart(target, name + ' vs ' + axis.name + (run === data.runs[0] && data.runs.length === 1 ? '' : ' — ' + run.name), {
          type: numeric ? 'line' : 'bar',
          data: { labels: labels, datasets: datasets },
          options: {
            plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ': ' + fmt(c.parsed.y) + ' ' + sample.unit; } } } },
            scales: { x: { title: { display: true, text: axis.name } }, y: { title: { display: true, text: axisLabel(sample) }, beginAtZero: true } },
          },
        }, SCALING[axis.name] ? 'scaling' : 'sweep');
        drawn++;
      });
    });
    if (axes.length === 0) {
      names.forEach(function (name) {
        var m = metricOf(run.results.points[0] || { metrics: [] }, name);
        if (!m) return;
        chart(grid, name + ' samples — ' + run.name, {
          type: 'bar',
          data: { labels: m.samples.map(function (_, i) { return '#' + (i + 1); }), datasets: [{ label: name, data: m.samples, backgroundColor: palette[0] }] },
          options: { scales: { y: { title: { display: true, text: axisLabel(m) }, beginAtZero: true } } },
        }, 'samples');
        drawn++;
      });
    }
    return drawn;
  }

  function perPointCharts(run, grid, field, kind) {
    var names = metricNames(run);
    var drawn = 0;
    names.forEach(function (name) {
      var points = run.results.points.filter(function (p) { var m = metricOf(p, name); return m && m[field] && (field !== 'histogram' || m.histogram.counts.length); });
      if (points.length === 0) return;
      var first = metricOf(points[0], name);
      var labels = field === 'perCore'
        ? Array.from({ length: Math.max.apply(null, points.map(function (p) { return metricOf(p, name).perCore.length; })) }, function (_, i) { return 'core ' + i; })
        : first.histogram.labels;
      var datasets = points.map(function (p, i) {
        var m = metricOf(p, name);
        return { label: p.id, data: field === 'perCore' ? m.perCore : m.histogram.counts, backgroundColor: palette[i % palette.length] };
      });
      chart(grid, (field === 'perCore' ? name + ' per core' : name + ' histogram') + (data.runs.length > 1 ? ' — ' + run.name : ''), {
        type: 'bar',
        data: { labels: labels, datasets: datasets },
        options: { scales: { y: { title: { display: true, text: field === 'perCore' ? axisLabel(first) : 'count' }, beginAtZero: true } } },
      }, kind);
      drawn++;
    });
    return drawn;
  }

  function comparisonView(c) {
    var grid = section('Comparison: ' + c.head + ' vs ' + c.base);
    var rows = c.result.rows;
    chart(grid, 'change of the median, head vs base (%)', {
      type: 'bar',
      data: {
        labels: rows.map(function (r) { return r.point + ' ' + r.metric; }),
        datasets: [{
          label: 'change (%)',
          data: rows.map(function (r) { return (r.ratio - 1) * 100; }),
          backgroundColor: rows.map(function (r) { return r.verdict === 'better' ? '#1a7f37' : r.verdict === 'worse' ? '#cf222e' : '#8c959f'; }),
        }],
      },
      options: { indexAxis: 'y', scales: { x: { title: { display: true, text: '% (grey: not significant)' } } } },
    }, 'comparison');
    var t = el('table');
    var head = el('tr');
    ['point', 'metric', 'base median', 'head median', 'change', 'p'].forEach(function (h) { head.appendChild(el('th', null, h)); });
    t.appendChild(head);
    rows.forEach(function (r) {
      var tr = el('tr');
      tr.appendChild(el('td', null, r.point));
      tr.appendChild(el('td', null, r.metric + ' (' + r.direction + ' is better)'));
      tr.appendChild(el('td', { class: 'num' }, fmt(r.base.median) + ' ' + r.unit));
      tr.appendChild(el('td', { class: 'num' }, fmt(r.head.median) + ' ' + r.unit));
      tr.appendChild(el('td', { class: r.verdict }, r.significant ? ((r.ratio - 1) * 100).toFixed(1) + '% ' + r.verdict + (r.regression ? ' (regression)' : '') : '~'));
      tr.appendChild(el('td', { class: 'num' }, r.p.toFixed(3)));
      t.appendChild(tr);
    });
    app.appendChild(t);
    var g = el('p', null, 'Geometric mean of head/base: ' + c.result.geomeans.map(function (x) { return x.metric + ' ' + ((x.ratio - 1) * 100).toFixed(1) + '%'; }).join(', ') +
      '. ' + c.result.regressions + ' significant regression(s) beyond ' + (c.result.options.threshold * 100) + '%.');
    app.appendChild(g);
  }

  data.runs.forEach(environment);
  var sweepGrid = section('Sweep curves');
  var scalingGrid = section('Scaling curves');
  var coreGrid = section('Per-core load');
  var histGrid = section('Histograms');
  var counts = { sweep: 0, scaling: 0, cores: 0, hist: 0 };
  data.runs.forEach(function (run) {
    sweepCharts(run, sweepGrid, scalingGrid);
    counts.cores += perPointCharts(run, coreGrid, 'perCore', 'per-core');
    counts.hist += perPointCharts(run, histGrid, 'histogram', 'histogram');
  });
  [sweepGrid, scalingGrid, coreGrid, histGrid].forEach(function (g) {
    if (!g.firstChild) {
      g.previousSibling.remove();
      g.remove();
    }
  });
  if (data.comparison) comparisonView(data.comparison);
  else if (data.comparisonNote) app.appendChild(el('p', { class: 'worse' }, 'No comparison: ' + data.comparisonNote));
})();
`;
