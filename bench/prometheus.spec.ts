import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { formatSample, parsePrometheusText } from './prometheus';

describe('parsePrometheusText', () => {
  it('reads families with their help, type and samples in the order written', () => {
    const metrics = parsePrometheusText(
      [
        '# HELP corral_db_queries_total Statements this node sent',
        '# TYPE corral_db_queries_total counter',
        'corral_db_queries_total 1027',
        '',
        '# HELP corral_connected_agents Agents connected, by transport',
        '# TYPE corral_connected_agents gauge',
        'corral_connected_agents{transport="websocket"} 800',
        'corral_connected_agents{transport="longPoll"} 200',
        '',
      ].join('\n'),
    );
    expect(metrics.families.map((f) => [f.name, f.type, f.help])).toEqual([
      ['corral_db_queries_total', 'counter', 'Statements this node sent'],
      ['corral_connected_agents', 'gauge', 'Agents connected, by transport'],
    ]);
    expect(metrics.value('corral_db_queries_total')).toBe(1027);
    expect(metrics.value('corral_connected_agents', { transport: 'longPoll' })).toBe(200);
    expect(metrics.samples('corral_connected_agents').map((s) => s.labels.transport)).toEqual(['websocket', 'longPoll']);
  });

  it('puts a histogram\'s buckets, sum and count in its family, "le" and "+Inf" included', () => {
    const metrics = parsePrometheusText(
      [
        '# TYPE corral_db_statement_duration_seconds histogram',
        'corral_db_statement_duration_seconds_bucket{le="0.01",statement="claim_offers"} 3',
        'corral_db_statement_duration_seconds_bucket{le="+Inf",statement="claim_offers"} 5',
        'corral_db_statement_duration_seconds_sum{statement="claim_offers"} 0.125',
        'corral_db_statement_duration_seconds_count{statement="claim_offers"} 5',
      ].join('\n'),
    );
    expect(metrics.families).toHaveLength(1);
    expect(metrics.family('corral_db_statement_duration_seconds')?.samples.map((s) => s.name)).toEqual([
      'corral_db_statement_duration_seconds_bucket',
      'corral_db_statement_duration_seconds_bucket',
      'corral_db_statement_duration_seconds_sum',
      'corral_db_statement_duration_seconds_count',
    ]);
    expect(metrics.value('corral_db_statement_duration_seconds_bucket', { le: '+Inf', statement: 'claim_offers' })).toBe(5);
    expect(metrics.value('corral_db_statement_duration_seconds_sum', { statement: 'claim_offers' })).toBe(0.125);
  });

  it("puts a summary's quantiles, sum and count in its family", () => {
    const metrics = parsePrometheusText(['# TYPE rpc summary', 'rpc{quantile="0.5"} 0.2', 'rpc{quantile="0.99"} 1.5', 'rpc_sum 40', 'rpc_count 80'].join('\n'));
    expect(metrics.families.map((f) => [f.name, f.samples.length])).toEqual([['rpc', 4]]);
    expect(metrics.value('rpc', { quantile: '0.99' })).toBe(1.5);
  });

  it('reads a value by its exact labels, and samples by the labels they include', () => {
    const metrics = parsePrometheusText(
      ['http{method="POST",route="/t",status="201"} 7', 'http{method="POST",route="/t",status="422"} 1', 'http{method="GET",route="/t",status="200"} 9'].join('\n'),
    );
    expect(metrics.value('http', { method: 'POST', route: '/t' })).toBeUndefined();
    expect(metrics.value('http', { method: 'POST', route: '/t', status: '422' })).toBe(1);
    expect(metrics.samples('http', { method: 'POST' }).map((s) => s.value)).toEqual([7, 1]);
    expect(metrics.samples('nothing')).toEqual([]);
  });

  it('unescapes label values and help text', () => {
    const metrics = parsePrometheusText(['# HELP m A \\\\ backslash\\nand a second line', 'm{path="C:\\\\dir",say="\\"hi\\"",text="one\\ntwo"} 1'].join('\n'));
    expect(metrics.family('m')?.help).toBe('A \\ backslash\nand a second line');
    expect(metrics.samples('m')[0].labels).toEqual({ path: 'C:\\dir', say: '"hi"', text: 'one\ntwo' });
  });

  it('reads +Inf, -Inf and NaN in any case, exponents and timestamps', () => {
    const metrics = parsePrometheusText(['a +Inf', 'b -Inf', 'c NaN', 'd Nan', 'e 1.5e-7', 'f 3 1700000000000'].join('\n'));
    expect(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => metrics.value(n))).toEqual([Infinity, -Infinity, NaN, NaN, 1.5e-7, 3]);
    expect(metrics.samples('f')[0].timestampMs).toBe(1_700_000_000_000);
    expect(metrics.samples('e')[0].timestampMs).toBeUndefined();
  });

  it('allows blanks between tokens, a trailing comma in the labels, and comments', () => {
    const metrics = parsePrometheusText(['# just a comment', '  m { a = "1" , b="2", }\t4  ', '#'].join('\n'));
    expect(metrics.samples('m')).toEqual([{ name: 'm', labels: { a: '1', b: '2' }, value: 4 }]);
  });

  it('keeps samples that have no TYPE line in untyped families of their own', () => {
    const metrics = parsePrometheusText(['x_count 2', 'x_sum 3'].join('\n'));
    expect(metrics.families.map((f) => [f.name, f.type])).toEqual([
      ['x_count', 'untyped'],
      ['x_sum', 'untyped'],
    ]);
  });

  it.each([
    ['a value that is not a number', 'm twelve', /line 1 .*bad value "twelve"/],
    ['no value', 'm{a="1"}', /ends early/],
    ['an unterminated label value', 'm{a="1} 2', /ends early/],
    ['an unknown escape', 'm{a="\\t"} 2', /unknown escape "\\t"/],
    ['a label twice', 'm{a="1",a="2"} 2', /label "a" twice/],
    ['an unquoted label value', 'm{a=1} 2', /quoted value expected/],
    ['a bad metric name', '1m 2', /a metric name expected/],
    ['an unknown type', '# TYPE m countre', /unknown type "countre"/],
    ['a second TYPE', '# TYPE m gauge\n# TYPE m counter', /line 2 .*a second TYPE/],
    ['a TYPE after the samples', 'm 1\n# TYPE m gauge', /TYPE of m comes after its samples/],
    ['a bucket without "le"', '# TYPE h histogram\nh_bucket{x="1"} 2', /without "le"/],
    ['something after the timestamp', 'm 1 2 3', /more after the timestamp/],
  ])('rejects %s, naming the line', (_, text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(message);
  });

  it('reads what prom-client writes, and formatSample writes each sample back as it was', async () => {
    const registry = new Registry();
    new Counter({ name: 'jobs_total', help: 'Jobs \\ with a\nnewline in the help', labelNames: ['state'], registers: [registry] }).inc({ state: 'say "done"\\\n' }, 3);
    new Gauge({ name: 'lag_seconds', help: 'Lag', registers: [registry] }).set(NaN);
    const histogram = new Histogram({ name: 'request_seconds', help: 'Requests', labelNames: ['method', 'route'], buckets: [0.005, 0.5], registers: [registry] });
    histogram.observe({ method: 'POST', route: '/api/v1/tasks' }, 0.004);
    histogram.observe({ method: 'POST', route: '/api/v1/tasks' }, 2);
    new Summary({ name: 'size_bytes', help: 'Sizes', percentiles: [0.5, 0.9], registers: [registry] }).observe(1.25e-7);
    const text = await registry.metrics();

    const metrics = parsePrometheusText(text);

    expect(metrics.families.map((f) => [f.name, f.type])).toEqual([
      ['jobs_total', 'counter'],
      ['lag_seconds', 'gauge'],
      ['request_seconds', 'histogram'],
      ['size_bytes', 'summary'],
    ]);
    expect(metrics.family('jobs_total')?.help).toBe('Jobs \\ with a\nnewline in the help');
    expect(metrics.value('jobs_total', { state: 'say "done"\\\n' })).toBe(3);
    expect(metrics.value('request_seconds_bucket', { le: '+Inf', method: 'POST', route: '/api/v1/tasks' })).toBe(2);
    expect(metrics.value('request_seconds_sum', { method: 'POST', route: '/api/v1/tasks' })).toBe(2.004);
    const sampleLines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    // prom-client spells NaN "Nan"; formatSample writes the format's own spelling.
    expect(metrics.allSamples().map(formatSample)).toEqual(sampleLines.map((l) => l.replace(/ Nan$/, ' NaN')));
  });
});
