// Small helpers: HTML escaping and number formatting. Every number on the page goes
// through one of the fmt* functions, so the tests can reproduce what a cell shows.

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

/** A share of all profiled time, in %: "" for 0, "<0.1%" below 0.05, else one decimal. */
export function fmtPct(v: number): string {
  if (!(v > 0)) return "";
  if (v < 0.05) return "<0.1%";
  return v.toFixed(1) + "%";
}

/** MB (MiB): "" for 0, "<0.1" below 0.05, one decimal below 100, else whole. */
export function fmtMb(v: number): string {
  if (!(v > 0)) return v < 0 ? "-" + fmtMb(-v) : "";
  if (v < 0.05) return "<0.1";
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

/** Like fmtMb with a unit, and "0 MB" for zero (for the header cards). */
export function fmtMbUnit(v: number): string {
  if (!(v > 0)) return "0 MB";
  if (v >= 10240) return (v / 1024).toFixed(1) + " GB";
  return fmtMb(v) + " MB";
}

/** Seconds: "12 ms", "1.23 s", "2 m 03 s". */
export function fmtSec(s: number): string {
  if (!(s > 0)) return "0 s";
  if (s < 1) return (s * 1000 < 10 ? (s * 1000).toFixed(1) : (s * 1000).toFixed(0)) + " ms";
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  if (m < 60) return `${m} m ${String(r).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

/** A rate (MB/s) for the copy column. */
export function fmtRate(v: number): string {
  if (!(v > 0)) return "";
  if (v < 0.05) return "<0.1";
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

export function fmtFrac(v: number): string {
  return (Math.max(0, Math.min(1, v)) * 100).toFixed(0) + "%";
}

const SIGNALS: Record<number, string> = {
  1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
  8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
  14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ",
};

export function signalName(n: number): string {
  return SIGNALS[n] ?? `signal ${n}`;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K, cls?: string, html?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (html !== undefined) e.innerHTML = html;
  return e;
}

/** The file name without its directory, and the directory (with a trailing slash). */
export function splitPath(p: string): [string, string] {
  const i = p.lastIndexOf("/");
  return i < 0 ? ["", p] : [p.slice(0, i + 1), p.slice(i + 1)];
}
