// The live chart: gas against Wasm instructions and cycles for recent
// transactions, drawn by uPlot. Gas has the left axis; instructions and
// cycles (one cycle per instruction plus the fee every update pays) share
// the right one.

import uPlot from "uplot";
import { count } from "./format.js";

const styles = () => getComputedStyle(document.documentElement);

export class CostChart {
  /** `points`: `[{ label, gas, instructions, cycles }]`, oldest first. */
  constructor(container, points) {
    this.container = container;
    this.points = points;
    this.plot = null;
    this.draw();
    this.width = 0;
    this.resize = new ResizeObserver(() => {
      if (this.container.clientWidth !== this.width) this.draw();
    });
    this.resize.observe(container);
    this.scheme = matchMedia("(prefers-color-scheme: dark)");
    this.scheme.addEventListener("change", () => this.draw());
  }

  data() {
    return [
      this.points.map((_, i) => i),
      this.points.map((p) => p.gas),
      this.points.map((p) => p.instructions),
      this.points.map((p) => p.cycles),
    ];
  }

  /** Appends points, keeping the latest `keep`. */
  push(points, keep = 50) {
    this.points = [...this.points, ...points].slice(-keep);
    if (this.plot) this.plot.setData(this.data());
    else this.draw();
    this.container.dataset.points = String(this.points.length);
  }

  draw() {
    const width = this.container.clientWidth;
    if (width === 0) return;
    this.width = width;
    this.plot?.destroy();
    const css = styles();
    const ink = css.getPropertyValue("--ink").trim();
    const grid = css.getPropertyValue("--line").trim();
    const colours = ["--gas", "--instructions", "--cycles"].map((v) => css.getPropertyValue(v).trim());
    const axis = (scale, side, label) => ({
      scale,
      side,
      label,
      stroke: ink,
      grid: { stroke: grid, width: 1, show: side === 3 },
      ticks: { stroke: grid },
      values: (_, ticks) => ticks.map((t) => count(Math.round(t))),
      size: 70,
    });
    const label = (i) => this.points[i]?.label ?? "";
    const block = (i) => label(i).split(" ")[0];
    const opts = {
      width,
      height: Math.max(220, Math.min(320, Math.round(width * 0.35))),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, gas: { auto: true }, wasm: { auto: true } },
      axes: [
        { stroke: ink, grid: { show: false }, ticks: { stroke: grid }, values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? block(t) : "")) },
        axis("gas", 3, "gas"),
        axis("wasm", 1, "instructions · cycles"),
      ],
      series: [
        { label: "transaction", value: (_, i) => (i == null ? "—" : label(i) || "—") },
        { label: "gas", scale: "gas", stroke: colours[0], width: 2, points: { size: 6 }, value: (_, v) => (v == null ? "—" : count(v)) },
        { label: "instructions", scale: "wasm", stroke: colours[1], width: 2, points: { size: 6 }, value: (_, v) => (v == null ? "—" : count(v)) },
        { label: "cycles", scale: "wasm", stroke: colours[2], width: 2, dash: [6, 4], points: { size: 6 }, value: (_, v) => (v == null ? "—" : count(v)) },
      ],
    };
    this.plot = new uPlot(opts, this.data(), this.container);
    this.container.dataset.points = String(this.points.length);
  }
}
