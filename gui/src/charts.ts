// Charts as plain SVG/HTML strings: stacked bars, per-line sparklines and the footprint
// chart. No chart library: the shapes are simple and this keeps the bundle small.
import type { Pt } from "./model";
import { esc, fmtMb, fmtSec } from "./util";

export interface Seg {
  v: number;
  cls: string;
}

/** A horizontal bar, segments as percentages of `scale` (the bar's full width). */
export function stackBar(segs: Seg[], scale: number, tip: string, cls = ""): string {
  let inner = "";
  let used = 0;
  for (const s of segs) {
    if (!(s.v > 0) || !(scale > 0)) continue;
    let w = (s.v / scale) * 100;
    w = Math.min(w, 100 - used);
    if (w <= 0) continue;
    used += w;
    inner += `<span class="seg ${s.cls}" style="width:${w.toFixed(2)}%"></span>`;
  }
  return `<span class="bar ${cls}"${tip ? ` data-tip="${esc(tip)}"` : ""}>${inner}</span>`;
}

const SW = 96, SH = 20;

/** A line's live memory over the run (step line), x from t0 to t1 (ns). */
export function sparkline(pts: Pt[], t0: number, t1: number, leak: boolean): string {
  if (pts.length === 0) return "";
  let max = 0;
  for (const p of pts) if (p[1] > max) max = p[1];
  const span = t1 > t0 ? t1 - t0 : 1;
  const x = (t: number) => Math.max(0, Math.min(SW, ((t - t0) / span) * SW));
  const y = (v: number) => (max > 0 ? SH - 1.5 - (v / max) * (SH - 3) : SH - 1.5);
  let d = `M${x(pts[0][0]).toFixed(1)},${(SH - 1.5).toFixed(1)}V${y(pts[0][1]).toFixed(1)}`;
  for (let i = 1; i < pts.length; i++) {
    d += `H${x(pts[i][0]).toFixed(1)}V${y(pts[i][1]).toFixed(1)}`;
  }
  const xe = x(pts[pts.length - 1][0]).toFixed(1);
  const area = `${d}H${xe}V${(SH - 1.5).toFixed(1)}Z`;
  return `<svg class="spark${leak ? " leak" : ""}" viewBox="0 0 ${SW} ${SH}" width="${SW}" height="${SH}" ` +
    `aria-hidden="true"><path class="a" d="${area}"/><path class="l" d="${d}"/></svg>`;
}

function niceStep(range: number, target: number): number {
  if (!(range > 0)) return 1;
  const raw = range / target;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

export interface Series {
  pts: Pt[];
  cls: string;
  label: string;
  area: boolean;
}

const W = 640, H = 150, ML = 44, MR = 10, MT = 10, MB = 22;

/** The footprint chart (MB over seconds since start), with hover read-out. */
export function footprintChart(host: HTMLElement, series: Series[], endSec: number,
                               peak: { sec: number; mb: number } | null): void {
  const all = series.filter((s) => s.pts.length > 0);
  if (all.length === 0) {
    host.innerHTML = `<div class="chart-empty">No memory samples</div>`;
    return;
  }
  let tmax = endSec * 1e9, vmax = 0;
  for (const s of all) for (const p of s.pts) { if (p[0] > tmax) tmax = p[0]; if (p[1] > vmax) vmax = p[1]; }
  if (peak && peak.mb > vmax) vmax = peak.mb;
  if (!(tmax > 0)) tmax = 1;
  const ystep = niceStep(vmax || 1, 3);
  const ymax = Math.max(ystep, Math.ceil((vmax || 1) / ystep) * ystep);
  const pw = W - ML - MR, ph = H - MT - MB;
  const X = (t: number) => ML + (t / tmax) * pw;
  const Y = (v: number) => MT + ph - (v / ymax) * ph;
  let g = "";
  for (let v = 0; v <= ymax + 1e-9; v += ystep) {
    g += `<line class="grid" x1="${ML}" x2="${W - MR}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}"/>` +
      `<text class="tick" x="${ML - 6}" y="${(Y(v) + 3.5).toFixed(1)}" text-anchor="end">${fmtMb(v) || "0"}</text>`;
  }
  const tsec = tmax / 1e9;
  const xstep = niceStep(tsec, 6);
  for (let t = 0; t <= tsec + 1e-9; t += xstep) {
    const xx = X(t * 1e9).toFixed(1);
    g += `<line class="xtick" x1="${xx}" x2="${xx}" y1="${MT + ph}" y2="${MT + ph + 4}"/>` +
      `<text class="tick" x="${xx}" y="${H - 6}" text-anchor="middle">${+t.toFixed(6)}s</text>`;
  }
  let paths = "";
  for (const s of all) {
    let d = `M${X(s.pts[0][0]).toFixed(1)},${Y(s.pts[0][1]).toFixed(1)}`;
    for (let i = 1; i < s.pts.length; i++) d += `H${X(s.pts[i][0]).toFixed(1)}V${Y(s.pts[i][1]).toFixed(1)}`;
    if (s.area) {
      const last = s.pts[s.pts.length - 1];
      paths += `<path class="area ${s.cls}" d="${d}H${X(last[0]).toFixed(1)}V${Y(0).toFixed(1)}H${X(s.pts[0][0]).toFixed(1)}Z"/>`;
    }
    paths += `<path class="line ${s.cls}" d="${d}"/>`;
    if (s.pts.length < 3) {
      for (const pt of s.pts) paths += `<circle class="dot ${s.cls}" cx="${X(pt[0]).toFixed(1)}" cy="${Y(pt[1]).toFixed(1)}" r="3"/>`;
    }
  }
  let mark = "";
  if (peak && peak.mb > 0) {
    mark = `<circle class="peak" cx="${X(peak.sec * 1e9).toFixed(1)}" cy="${Y(peak.mb).toFixed(1)}" r="3.5"/>`;
  }
  host.innerHTML =
    `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Memory footprint over time">` +
    `${g}${paths}${mark}<line class="cursor" x1="0" x2="0" y1="${MT}" y2="${MT + ph}" visibility="hidden"/>` +
    `<rect class="hover" x="${ML}" y="${MT}" width="${pw}" height="${ph}"/></svg>` +
    (all.length > 1 ? `<div class="chart-legend">${all.map((s) => `<span class="key ${s.cls}"></span>${esc(s.label)}`).join(" ")}</div>` : "");
  const svg = host.querySelector("svg")!;
  const cursor = svg.querySelector(".cursor") as SVGLineElement;
  const rect = svg.querySelector(".hover") as SVGRectElement;
  const tip = document.getElementById("tip");
  const valueAt = (pts: Pt[], t: number): number | null => {
    // the last point at or before t (binary search; the points are time-sorted)
    let lo = 0, hi = pts.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (pts[mid][0] <= t) { ans = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return ans < 0 ? null : pts[ans][1];
  };
  rect.addEventListener("mousemove", (e: MouseEvent) => {
    const r = svg.getBoundingClientRect();
    const vx = ((e.clientX - r.left) / r.width) * W;
    const t = Math.max(0, Math.min(tmax, ((vx - ML) / pw) * tmax));
    cursor.setAttribute("x1", X(t).toFixed(1));
    cursor.setAttribute("x2", X(t).toFixed(1));
    cursor.setAttribute("visibility", "visible");
    if (tip) {
      const lines = [`t = ${fmtSec(t / 1e9)}`];
      for (const s of all) {
        const v = valueAt(s.pts, t);
        lines.push(`${s.label}: ${v === null ? "–" : (fmtMb(v) || "0") + " MB"}`);
      }
      showTip(tip, lines.join("\n"), e.clientX, e.clientY);
    }
  });
  rect.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    if (tip) tip.hidden = true;
  });
}

export function showTip(tip: HTMLElement, text: string, x: number, y: number): void {
  tip.textContent = text;
  tip.hidden = false;
  const w = tip.offsetWidth, h = tip.offsetHeight;
  let left = x + 14, top = y + 16;
  if (left + w > window.innerWidth - 8) left = Math.max(8, x - w - 14);
  if (top + h > window.innerHeight - 8) top = Math.max(8, y - h - 12);
  tip.style.left = left + "px";
  tip.style.top = top + "px";
}
