// Merges the load processes' reports into one target's figures and prints the tables.
import { Histogram } from './histogram.mjs';

const merged = (reports, key) => {
  const h = new Histogram();
  for (const r of reports) h.add(r[key]);
  return h;
};
const latency = (h) => ({ p50: h.percentile(50), p99: h.percentile(99), p999: h.percentile(99.9), samples: h.total });

/**
 * Chat completeness: every acked message of a room should reach each of the room's members once.
 * Missing = members × acked − distinct receipts; duplicates and out-of-order as the clients saw them.
 */
function completeness(reports) {
  const members = {};
  const receivers = new Map();
  for (const r of reports) {
    for (const [room, n] of Object.entries(r.members)) members[room] = (members[room] ?? 0) + n;
    for (const [ref, n] of r.receivers) receivers.set(ref, (receivers.get(ref) ?? 0) + n);
  }
  let missing = 0;
  let acked = 0;
  let expected = 0;
  for (const r of reports) {
    for (const [ref, room] of r.acked) {
      acked++;
      expected += members[room] ?? 0;
      missing += Math.max(0, (members[room] ?? 0) - (receivers.get(ref) ?? 0));
    }
  }
  const sum = (k) => reports.reduce((s, r) => s + r[k], 0);
  return { sent: sum('sent'), acked, expected, missing, duplicates: sum('duplicates'), outOfOrder: sum('outOfOrder') };
}

export function summarize({ target, connects, reports, seconds, cpu, rssBefore, rssIdle, rssPeak, ticksSent, clients, broker }) {
  const connected = connects.reduce((s, c) => s + c.connected, 0);
  return {
    name: target.name,
    chat: target.chat,
    connected,
    failed: connects.reduce((s, c) => s + c.failed, 0),
    firstError: connects.find((c) => c.firstError)?.firstError,
    connectSeconds: Math.max(...connects.map((c) => c.ms)) / 1000,
    clients,
    tickPrompt: latency(merged(reports, 'tickPrompt')),
    tickSlow: latency(merged(reports, 'tickSlow')),
    chatPrompt: latency(merged(reports, 'chatPrompt')),
    chatSlow: latency(merged(reports, 'chatSlow')),
    deliveriesPerSec: reports.reduce((s, r) => s + r.deliveries, 0) / seconds,
    ticksPerSec: ticksSent,
    closedEarly: reports.reduce((s, r) => s + r.closedEarly, 0),
    completeness: target.chat ? completeness(reports) : undefined,
    cpuPercent: cpu * 100,
    broker,
    loadCpuPercent: Math.max(...reports.map((r) => r.self.cpu)) * 100,
    loadDelayP99: Math.max(...reports.map((r) => r.self.loopDelayP99)),
    rssIdle,
    rssPeak,
    perConnection: connected > 0 ? (rssIdle - rssBefore) / connected : NaN,
  };
}

const ms = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;
const lat = (l) => (l.samples > 0 ? `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.p999)}` : '–');
const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

function brokerView(b) {
  if (!b) return '–';
  const v = (k) => fmt(b[k]);
  return `${v('ticktalk_ticks_routed_total')} / ${v('ticktalk_ticks_conflated_total{reason="window"}')} / ${v('ticktalk_ticks_conflated_total{reason="backlog"}')} / ${v('ticktalk_ticks_conflated_total{reason="client_rate"}')}; ${ms(b.ticktalk_tick_write_window_ms)} ms`;
}

function rows(r) {
  const c = r.completeness;
  return [
    [
      'clients connected (failed) in s',
      `${fmt(r.connected)} (${r.failed}) in ${r.connectSeconds.toFixed(1)} s${r.firstError ? `: ${r.firstError}` : ''}`,
    ],
    ['tick p50 / p99 / p99.9 ms, prompt readers', lat(r.tickPrompt)],
    ['tick p50 / p99 / p99.9 ms, slow readers (incl. their read pauses)', lat(r.tickSlow)],
    ['chat p50 / p99 / p99.9 ms, prompt readers', r.chat ? lat(r.chatPrompt) : '–'],
    ['chat p50 / p99 / p99.9 ms, slow readers', r.chat ? lat(r.chatSlow) : '–'],
    ['deliveries/s received (ticks sent/s)', `${fmt(r.deliveriesPerSec)} (${fmt(r.ticksPerSec)})`],
    ['chat acked / expected receipts', c ? `${fmt(c.acked)} of ${fmt(c.sent)} / ${fmt(c.expected)}` : '–'],
    ['chat missing / duplicated / out of order', c ? `${c.missing} / ${c.duplicates} / ${c.outOfOrder}` : '–'],
    ['clients closed by the broker while measuring', fmt(r.closedEarly)],
    ['broker CPU (one core = 100%)', `${r.cpuPercent.toFixed(0)}%`],
    [
      'ticks routed / conflated in windows / while backed up / held to the client’s max-tick-rate (whole run); write window at the end',
      brokerView(r.broker),
    ],
    ['busiest load process: CPU, event-loop delay p99 (its own lateness)', `${r.loadCpuPercent.toFixed(0)}%, ${ms(r.loadDelayP99)} ms`],
    ['broker RSS idle / peak', `${mb(r.rssIdle)} / ${mb(r.rssPeak)}`],
    ['memory per idle subscribed connection', `${(r.perConnection / 1024).toFixed(2)} KB`],
  ];
}

export function printReport(results, { opt, cluster, brokerEnv }) {
  console.log(`\nmarket day: ${JSON.stringify({ ...opt, cluster, brokerEnv })}`);
  console.log(`| measure | ${results.map((r) => r.name).join(' | ')} |`);
  console.log(`| --- | ${results.map(() => '---').join(' | ')} |`);
  const table = results.map(rows);
  for (let i = 0; i < table[0].length; i++) console.log(`| ${table[0][i][0]} | ${table.map((t) => t[i][1]).join(' | ')} |`);
}
