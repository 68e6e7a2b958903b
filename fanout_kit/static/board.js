// fanout-kit board: the browser side (an anywidget ES module, also inlined in exported files).
//
// Python sends a compact "frame" (schema in fanout_kit/widget.py) at most 10 times a second.
// This file only draws what the frame says: it computes no state. It sizes the board to its
// output area and reports back how many message cells fit per lane ("capacity"), slides the
// cursor marks (animations started when a frame is drawn), keeps a bounded history of the
// frames it received for the time-travel slider, and speaks a rate-limited summary in a polite
// live region.

const PITCH = 9; // px per message cell at full size: an 8 px cell and a 1 px gap
const MIN_PITCH = 3; // a frame wider than the lane (before the first capacity report) shrinks
const MAX_PITCH = 20; // a short window (a stream of a few messages) grows, up to 19 px cells
const SUMMARY_EVERY_MS = 2000; // the live region speaks at most this often
const SLIDE_MS = 350; // a cursor mark slides to its new place in this long
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)");
const NARROW_PX = 820; // below this board width the filters get rows of their own
const LONG_FILTERS_CHARS = 48; // ... and so do filter lists longer than this
const NOWRAP_CHARS = 24; // a consumer name up to this long stays on one line in the table

// The worker column: lines break only between counts ("3 workers:" / "2 running," / ...).
function workerWords(text) {
  const parts = String(text || "—").match(/[^,:]+[,:]?/g) || [];
  return parts
    .flatMap((p, i) => [i ? " " : null, h("span", { class: "fk-nowrap", text: p.trim() })])
    .filter((x) => x !== null);
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function fmt(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : String(n);
}

function plural(n, one, many) {
  return `${fmt(n)} ${n === 1 ? one : many}`;
}

function seconds(t) {
  return typeof t === "number" ? `${t.toFixed(1)} s` : "";
}

// A consumer paused on the server: the frame says until when (UTC, RFC 3339); the board shows
// it in the learner's local time, 24-hour, with the date when it is not today.
function localTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const time = d.toLocaleTimeString("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.toLocaleDateString("en-GB", { day: "numeric", month: "short" })} ${time}`;
}

function pausedWords(name, iso) {
  const utc = `${String(iso).slice(0, 19).replace("T", " ")} UTC`;
  return (
    `${name} paused on the server until ${localTime(iso)} (your local time; ${utc}): ` +
    "it delivers nothing to any worker until then, or until it is resumed"
  );
}

const SVG = "http://www.w3.org/2000/svg";

export class BoardView {
  // options: {reportCapacity(n), historyLimit, mode: "live" | "replay"}
  constructor(el, options = {}) {
    this.el = el;
    this.options = options;
    this.mode = options.mode || "live";
    this.historyLimit = options.historyLimit || 600;
    this.history = [];
    this.viewing = null; // null: follow the newest frame; else an index into history
    this.legend = [];
    this.columns = [];
    this.byCode = new Map();
    this.lanes = new Map(); // lane key -> {row, cells: [], ...}
    this.capacity = 0;
    this.pitch = PITCH;
    this.lastSummary = "";
    this.summaryAt = 0;
    this.summaryTimer = null;
    this.playTimer = null;
    this.build();
    this.resizer = new ResizeObserver(() => this.measure());
    this.resizer.observe(this.root);
  }

  build() {
    this.root = h("div", { class: "fk-board", role: "region", "aria-label": "Board" });
    this.head = h("div", { class: "fk-head" });
    this.banners = h("div", { class: "fk-banners" });
    this.lanesBox = h("div", { class: "fk-lanes" });
    this.hidden = h("div", { class: "fk-hidden" });
    this.table = h("table", { class: "fk-numbers" });
    this.staleNote = h("div", { class: "fk-stale-note", hidden: true });
    this.tableBox = h("div", { class: "fk-table-box" }, this.staleNote, this.table);
    this.legendBox = h("div", { class: "fk-legend", role: "list", "aria-label": "Legend" });
    this.live = h("div", { class: "fk-sr-only", "aria-live": "polite", role: "status" });
    this.slider = h("input", {
      type: "range",
      class: "fk-slider",
      min: 0,
      max: 0,
      value: 0,
      step: 1,
      "aria-label": "Time travel: frame of the session",
      "data-lm-suppress-shortcuts": "true",
    });
    this.liveButton = h("button", {
      type: "button",
      class: "fk-button fk-live-button",
      text: this.mode === "replay" ? "Play" : "Live",
      "aria-label": this.mode === "replay" ? "Play the session" : "Back to live",
    });
    this.timeLabel = h("span", { class: "fk-time-label" });
    this.timeBar = h(
      "div",
      { class: "fk-time", role: "group", "aria-label": "Time travel" },
      h("span", { class: "fk-time-title", text: "time travel" }),
      this.slider,
      this.liveButton,
      this.timeLabel,
    );
    this.styleBox = h("style");
    this.root.append(
      this.styleBox,
      this.head,
      this.banners,
      this.lanesBox,
      this.hidden,
      this.tableBox,
      this.legendBox,
      this.timeBar,
      this.live,
    );
    this.el.append(this.root);
    this.slider.addEventListener("input", () => this.scrub(Number(this.slider.value)));
    this.slider.addEventListener("keydown", (ev) => ev.stopPropagation());
    this.liveButton.addEventListener("click", () => {
      if (this.mode === "replay") this.togglePlay();
      else this.goLive();
    });
  }

  destroy() {
    this.resizer.disconnect();
    clearTimeout(this.summaryTimer);
    clearTimeout(this.playTimer);
    this.root.remove();
  }

  // --- sizing ---------------------------------------------------------------------------
  // The width message cells can use in one lane: the track's content box (the track keeps
  // a few pixels of padding so the cursor marks at either end are never clipped).
  trackWidth() {
    const probe = this.lanesBox.querySelector(".fk-cells");
    if (probe) return probe.clientWidth;
    const style = getComputedStyle(this.root);
    const name = parseFloat(style.getPropertyValue("--fk-name-px")) || 132;
    return Math.max(0, this.root.clientWidth - name - 30);
  }

  measure() {
    // A narrow output area puts each consumer's filters on a full-width row of their own.
    const narrow = this.root.clientWidth < NARROW_PX;
    if (narrow !== this.narrow) {
      this.narrow = narrow;
      this.tableKey = null;
      const shown = this.current();
      if (shown) this.drawTable(shown);
    }
    const width = this.trackWidth();
    if (!width) return;
    const capacity = Math.max(1, Math.floor((width + 1) / PITCH));
    if (capacity !== this.capacity) {
      this.capacity = capacity;
      this.root.dataset.capacity = String(capacity);
      if (this.options.reportCapacity) this.options.reportCapacity(capacity);
    }
    const frame = this.current();
    if (frame) this.layoutPitch(frame);
  }

  layoutPitch(frame) {
    // A full window has PITCH (capacity is counted in it); a shorter one gets larger cells,
    // up to MAX_PITCH, so six messages are not a 54 px sliver. Focus rows fit too.
    const focus = (frame.lanes || []).map((l) =>
      l.focus && l.focus.cells ? l.focus.cells.length : 0,
    );
    const n = Math.max(1, frame.hi - frame.lo + 1, ...focus);
    const width = this.trackWidth() || n * PITCH;
    const pitch = Math.max(MIN_PITCH, Math.min(MAX_PITCH, Math.floor((width + 1) / n)));
    if (pitch !== this.pitch) {
      this.pitch = pitch;
      this.root.style.setProperty("--fk-pitch", `${pitch}px`);
      this.placeMarks();
    }
  }

  // --- legend -------------------------------------------------------------------------
  setLegend(legend) {
    if (!Array.isArray(legend) || !legend.length) return;
    this.legend = legend;
    this.byCode = new Map(legend.map((s) => [s.code, s]));
    const light = legend.map((s) => `${s.css}:${s.light};`).join("");
    const dark = legend.map((s) => `${s.css}:${s.dark || s.light};`).join("");
    this.styleBox.textContent =
      `.fk-board{${light}}` +
      `body[data-jp-theme-light="false"] .fk-board,.fk-board.fk-theme-dark{${dark}}` +
      legend.map((s) => `.fk-st-${s.slug}{background-color:var(${s.css})}`).join("");
    this.legendBox.replaceChildren(
      ...legend.map((s) =>
        h(
          "span",
          { class: "fk-legend-item", role: "listitem" },
          h("i", { class: this.cellClass(s.code), "aria-hidden": "true" }),
          h("span", { text: s.state + (s.cue && s.cue !== "none" ? ` (${cueWords[s.cue]})` : "") }),
        ),
      ),
      h(
        "span",
        { class: "fk-legend-item", role: "listitem" },
        h("i", { class: "fk-mark-demo fk-mark-last", "aria-hidden": "true" }),
        h("span", { text: "Last Delivered" }),
      ),
      h(
        "span",
        { class: "fk-legend-item", role: "listitem" },
        h("i", { class: "fk-mark-demo fk-mark-floor", "aria-hidden": "true" }),
        h("span", { text: "Ack Floor" }),
      ),
      h(
        "span",
        { class: "fk-legend-item", role: "listitem" },
        h("i", { class: "fk-mark-demo fk-mark-start", "aria-hidden": "true" }),
        h("span", { text: "consumer's start" }),
      ),
      h(
        "span",
        { class: "fk-legend-item", role: "listitem" },
        h("b", { class: "fk-legend-count", text: "2", "aria-hidden": "true" }),
        h("span", { text: "delivered 2 times (kept after the ack)" }),
      ),
      h(
        "span",
        { class: "fk-legend-item", role: "listitem" },
        // A placeholder, not a time: a made-up one would read like a real pause.
        h("span", {
          class: "fk-paused-badge",
          "aria-hidden": "true",
          text: "paused until HH:MM:SS",
        }),
        h("span", {
          text:
            "consumer paused on the server (js.pause_consumer): " +
            "it delivers nothing until then (your local time)",
        }),
      ),
    );
    // Cells drawn before the legend arrived get their classes now.
    const frame = this.current();
    if (frame) {
      this.lanes.clear();
      this.lanesBox.replaceChildren();
      this.draw(frame);
    }
  }

  cellClass(code) {
    const s = this.byCode.get(code);
    if (!s) return "fk-c fk-st-missing";
    return `fk-c fk-st-${s.slug}` + (s.cue && s.cue !== "none" ? ` fk-cue-${s.cue}` : "");
  }

  stateWord(code) {
    const s = this.byCode.get(code);
    return s ? s.state : `state ${code}`;
  }

  // --- frames and history ---------------------------------------------------------------
  current() {
    if (!this.history.length) return null;
    const i = this.viewing === null ? this.history.length - 1 : this.viewing;
    return this.history[Math.min(i, this.history.length - 1)];
  }

  receive(frame) {
    if (!frame || typeof frame !== "object" || frame.v === undefined) return;
    const last = this.history[this.history.length - 1];
    if (last !== frame) this.history.push(frame);
    let dropped = 0;
    while (this.history.length > this.historyLimit) {
      this.history.shift();
      dropped += 1;
    }
    if (this.viewing !== null) this.viewing = Math.max(0, this.viewing - dropped);
    this.updateSlider();
    if (this.viewing === null) this.draw(frame);
  }

  loadHistory(frames) {
    this.history = frames.slice(-this.historyLimit);
    this.viewing = this.mode === "replay" ? 0 : null;
    this.updateSlider();
    const frame = this.current();
    if (frame) this.draw(frame);
  }

  updateSlider() {
    const n = this.history.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.value = String(this.viewing === null ? n - 1 : this.viewing);
    this.slider.disabled = n < 2;
    this.slider.setAttribute("aria-valuetext", this.timeText());
    this.timeLabel.textContent = this.timeText();
    this.root.classList.toggle("fk-past", this.viewing !== null && this.mode === "live");
  }

  timeText() {
    const frame = this.current();
    if (!frame) return "";
    const n = this.history.length;
    const at = this.viewing === null ? n - 1 : this.viewing;
    const when = `t = ${seconds(frame.t)}`;
    if (this.mode === "replay") return `${when} · frame ${at + 1} of ${n}`;
    if (this.viewing !== null) return `${when} · frame ${at + 1} of ${n} (past)`;
    // The newest frame of a closed board is its last word, not a live one.
    return (frame.status || {}).board === "closed" ? `closed · ${when}` : `live · ${when}`;
  }

  scrub(index) {
    const n = this.history.length;
    if (!n) return;
    const i = Math.max(0, Math.min(n - 1, index));
    this.viewing = this.mode === "live" && i === n - 1 ? null : i;
    this.updateSlider();
    this.draw(this.current());
  }

  goLive() {
    this.viewing = null;
    this.updateSlider();
    const frame = this.current();
    if (frame) this.draw(frame);
  }

  togglePlay() {
    if (this.playTimer) {
      clearTimeout(this.playTimer);
      this.playTimer = null;
      this.liveButton.textContent = "Play";
      return;
    }
    if (this.viewing === null || this.viewing >= this.history.length - 1) this.scrub(0);
    this.liveButton.textContent = "Pause";
    const step = () => {
      const i = this.viewing === null ? this.history.length - 1 : this.viewing;
      if (i >= this.history.length - 1) {
        this.playTimer = null;
        this.liveButton.textContent = "Play";
        return;
      }
      const dt = (this.history[i + 1].t ?? 0) - (this.history[i].t ?? 0);
      this.playTimer = setTimeout(
        () => {
          this.scrub(i + 1);
          step();
        },
        Math.max(50, Math.min(1000, dt * 1000)),
      );
    };
    step();
  }

  // --- drawing --------------------------------------------------------------------------
  draw(frame) {
    if (!frame) return;
    if (frame.v !== 1) {
      this.head.textContent = `This board cannot draw frame version ${frame.v}.`;
      return;
    }
    if (frame.legend && frame.legend !== this.legend) this.setLegend(frame.legend);
    const status = frame.status || {};
    this.root.setAttribute("aria-label", `Board: stream ${frame.stream}`);
    this.root.dataset.connection = status.connection || "";
    this.root.dataset.board = status.board || "";
    this.root.dataset.mode = status.mode || "";
    this.root.dataset.lo = String(frame.lo);
    this.root.dataset.hi = String(frame.hi);
    this.drawHead(frame);
    this.drawBanners(frame);
    this.layoutPitch(frame);
    this.drawLanes(frame);
    this.drawTable(frame);
    this.drawHidden(frame);
    this.speak(frame);
  }

  drawHead(frame) {
    const head = frame.head || {};
    const status = frame.status || {};
    const empty = !(frame.hi >= frame.lo);
    const parts = [
      h("strong", { text: frame.stream }),
      h("span", {
        text: !empty
          ? `messages ${fmt(frame.lo)}–${fmt(frame.hi)} drawn`
          : head.last > 0
            ? `no messages stored (the last was ${fmt(head.last)})`
            : "no messages yet",
      }),
    ];
    // An empty stream's "first 1 · last 0" would only puzzle: said once it stores some.
    if (!empty)
      parts.push(h("span", { text: `first ${fmt(head.first)} · last ${fmt(head.last)}` }));
    if (head.stored !== null && head.stored !== undefined)
      parts.push(h("span", { text: `${fmt(head.stored)} stored` }));
    if (head.api_calls !== undefined)
      parts.push(h("span", { text: `board API calls: ${fmt(head.api_calls)}` }));
    const conn = status.connection || "connected";
    // A closed board follows nothing, whatever its client does: "connected" would read live.
    const off = status.board === "closed" && conn === "connected";
    parts.push(
      h("span", {
        class: `fk-badge fk-conn-${off ? "off" : conn === "connected" ? "ok" : "bad"}`,
        title: off ? "the client is still connected; this board stopped following" : null,
        text: off ? "not following" : conn,
      }),
    );
    if (status.board && status.board !== "live")
      parts.push(h("span", { class: "fk-badge", text: `board ${status.board}` }));
    if (status.mode === "overload") parts.push(h("span", { class: "fk-badge", text: "overload" }));
    // A clustered stream: its leader (or "no leader") and each other replica's state.
    const c = head.cluster;
    if (c) this.root.dataset.leader = c.leader || "";
    else delete this.root.dataset.leader;
    if (c) {
      parts.push(
        c.leader
          ? h("span", { class: "fk-cluster", text: `leader ${c.leader}` })
          : h("span", { class: "fk-badge fk-conn-bad", text: "no leader: publishes fail" }),
      );
      const replicas = (c.replicas || []).map((r) =>
        r.offline
          ? `${r.name} offline`
          : r.current
            ? `${r.name} current`
            : `${r.name} behind (lag ${fmt(r.lag || 0)})`,
      );
      if (replicas.length)
        parts.push(h("span", { class: "fk-cluster", text: `replicas: ${replicas.join(", ")}` }));
    }
    const line = [];
    parts.forEach((p, i) => {
      if (i) line.push(h("span", { class: "fk-sep", "aria-hidden": "true", text: " · " }));
      line.push(p);
    });
    this.head.replaceChildren(...line);
  }

  drawBanners(frame) {
    const status = frame.status || {};
    const texts = [...(status.banners || [])];
    if (status.connection && status.connection !== "connected")
      texts.unshift(
        `Connection ${status.connection}: the numbers below are from before it was lost.`,
      );
    if (status.board === "closed") texts.unshift("This board is closed: it no longer follows the stream.");
    const key = JSON.stringify(texts);
    if (key === this.bannerKey) return;
    this.bannerKey = key;
    this.banners.replaceChildren(...texts.map((t) => h("div", { class: "fk-banner", text: t })));
  }

  drawHidden(frame) {
    const n = frame.hidden_lanes || 0;
    const names = frame.hidden_names || frame.hidden || [];
    this.hidden.textContent = n
      ? `${plural(n, "more consumer", "more consumers")} not drawn` +
        (names.length ? `: ${names.join(", ")}` : "") +
        "."
      : "";
    this.hidden.hidden = !n;
  }

  laneRow(key, consumer, label) {
    let lane = this.lanes.get(key);
    if (lane) return lane;
    const name = h("div", { class: "fk-name" });
    const counts = h("div", { class: "fk-counts", "aria-hidden": "true" });
    const cells = h("div", { class: "fk-cells", role: "group" });
    const marks = h("div", { class: "fk-marks", "aria-hidden": "false" });
    const track = h("div", { class: "fk-track" }, counts, cells, marks);
    const row = h(
      "div",
      { class: "fk-lane", role: "group", "data-lane": consumer, "aria-label": label },
      name,
      track,
    );
    lane = { row, name, track, counts, cells, marks, items: [], countItems: new Map(), key };
    this.lanes.set(key, lane);
    return lane;
  }

  drawLanes(frame) {
    const wanted = [];
    const n = Math.max(0, frame.hi - frame.lo + 1);
    // The stream lane.
    const stream = this.laneRow("\u0000stream", "", `stream ${frame.stream}`);
    stream.row.classList.add("fk-stream-lane");
    stream.name.textContent = "stream";
    stream.cells.setAttribute("aria-label", `stream ${frame.stream}, messages ${frame.lo} to ${frame.hi}`);
    this.fillCells(stream, "", frame.lo, frame.stream_lane || "", []);
    this.placeLaneMarks(stream, null, frame);
    wanted.push(stream.row);
    for (const laneData of frame.lanes || []) {
      const lane = this.laneRow(`c:${laneData.name}`, laneData.name, laneData.name);
      const note = laneData.note;
      lane.row.classList.toggle("fk-deleted", note === "deleted");
      lane.row.classList.toggle("fk-recreated", note === "recreated");
      const until = laneData.paused_until || null;
      lane.row.classList.toggle("fk-paused", Boolean(until));
      lane.row.dataset.paused = until ? "true" : "false";
      if (until) lane.row.dataset.pausedUntil = until;
      else delete lane.row.dataset.pausedUntil;
      lane.row.setAttribute(
        "aria-label",
        `consumer ${laneData.name}${note ? ` (${note})` : ""}` +
          (until ? `, paused until ${localTime(until)}` : ""),
      );
      lane.name.replaceChildren(
        ...[
          h("span", { class: "fk-name-text", text: laneData.name }),
          note ? h("span", { class: "fk-note", text: ` ${note}` }) : null,
          until
            ? h("span", {
                class: "fk-paused-badge",
                title: pausedWords(laneData.name, until),
                text: `paused until ${localTime(until)}`,
              })
            : null,
        ].filter(Boolean),
      );
      lane.cells.setAttribute(
        "aria-label",
        `${laneData.name}, messages ${frame.lo} to ${frame.hi}`,
      );
      this.fillCells(lane, laneData.name, frame.lo, laneData.cells || "", laneData.marks || []);
      this.placeLaneMarks(lane, laneData, frame);
      wanted.push(lane.row);
      const focusKey = `f:${laneData.name}`;
      if (laneData.focus && laneData.focus.cells) {
        const f = laneData.focus;
        const fl = this.laneRow(focusKey, laneData.name, `${laneData.name} around Last Delivered`);
        fl.row.classList.add("fk-focus");
        const fhi = f.lo + f.cells.length - 1;
        fl.name.textContent = `↳ ${fmt(f.lo)}–${fmt(fhi)}`;
        fl.name.title = `${laneData.name}: the messages around its Last Delivered (${fmt(laneData.cursor)}), far behind the newest`;
        fl.cells.setAttribute("aria-label", `${laneData.name} around Last Delivered, messages ${f.lo} to ${fhi}`);
        this.fillCells(fl, laneData.name, f.lo, f.cells, f.marks || [], true);
        this.placeLaneMarks(fl, laneData, { lo: f.lo, hi: fhi });
        wanted.push(fl.row);
      } else if (this.lanes.has(focusKey)) {
        this.lanes.get(focusKey).row.remove();
        this.lanes.delete(focusKey);
      }
    }
    // Keep rows in frame order; drop lanes the frame no longer has.
    const keep = new Set(wanted);
    for (const [key, lane] of this.lanes) {
      if (!keep.has(lane.row)) {
        lane.row.remove();
        this.lanes.delete(key);
      }
    }
    wanted.forEach((row, i) => {
      if (this.lanesBox.children[i] !== row) this.lanesBox.insertBefore(row, this.lanesBox.children[i] || null);
    });
    this.lanesBox.dataset.cells = String(n);
  }

  fillCells(lane, consumer, lo, codes, marks, focus = false) {
    const n = codes.length;
    const items = lane.items;
    while (items.length < n) {
      const cell = h("i", { role: "img" });
      cell.dataset.consumer = consumer;
      lane.cells.append(cell);
      items.push({ cell, key: "" });
    }
    while (items.length > n) items.pop().cell.remove();
    const deliveries = new Map();
    for (const [seq, count] of marks) deliveries.set(seq, count);
    const who = consumer === "" ? "stream" : consumer;
    for (let i = 0; i < n; i++) {
      const seq = lo + i;
      const code = codes[i];
      const times = deliveries.get(seq) || 0;
      const item = items[i];
      const key = `${seq}|${code}|${times}`;
      if (item.key === key) continue;
      item.key = key;
      const cell = item.cell;
      const word = this.stateWord(code);
      cell.className = this.cellClass(code) + (focus ? " fk-focus-cell" : "");
      cell.dataset.seq = String(seq);
      cell.dataset.state = word;
      if (times > 1) cell.dataset.deliveries = String(times);
      else delete cell.dataset.deliveries;
      const label = `seq ${seq}, ${who}: ${word}` + (times > 1 ? `, delivered ${times} times` : "");
      cell.setAttribute("aria-label", label);
      cell.title = label;
    }
    // Delivery-count marks above the cells ("2", "3", ... "9+"), kept after the final ack.
    const seen = new Set();
    for (const [seq, count] of deliveries) {
      if (count < 2 || seq < lo || seq >= lo + n) continue;
      seen.add(seq);
      let mark = lane.countItems.get(seq);
      if (!mark) {
        mark = h("b", { class: "fk-count" });
        lane.counts.append(mark);
        lane.countItems.set(seq, mark);
      }
      mark.textContent = count > 9 ? "9+" : String(count);
      mark.style.setProperty("--fk-i", String(seq - lo));
    }
    for (const [seq, mark] of lane.countItems) {
      if (!seen.has(seq)) {
        mark.remove();
        lane.countItems.delete(seq);
      }
    }
  }

  markEl(lane, kind, label) {
    lane.markEls = lane.markEls || {};
    let el = lane.markEls[kind];
    if (!el) {
      el = h("i", { class: `fk-mark fk-mark-${kind}`, role: "img" });
      lane.marks.append(el);
      lane.markEls[kind] = el;
    }
    el.setAttribute("aria-label", label);
    el.title = label;
    return el;
  }

  // Marks sit on boundaries between cells: "after seq s" is x = (s - lo + 1) * pitch.
  placeLaneMarks(lane, data, frame) {
    lane.markData = { data, lo: frame.lo, hi: frame.hi };
    this.positionMarks(lane);
  }

  // The cells changed size (a resize, or one noticed only when the board scrolls back into
  // view): the marks move with them at once; sliding is for cursors that moved.
  placeMarks() {
    for (const lane of this.lanes.values()) this.positionMarks(lane, false);
  }

  positionMarks(lane, animate = true) {
    const md = lane.markData;
    if (!md) return;
    const { data, lo, hi } = md;
    const pitch = this.pitch;
    const n = Math.max(0, hi - lo + 1);
    const right = n * pitch;
    // Where the boundary after seq s is drawn now (clamped to the lane).
    const xOf = (s) => Math.max(0, Math.min(right, (s - lo + 1) * pitch)) - 0.5;
    const put = (kind, seqAfter, label) => {
      const el = this.markEl(lane, kind, label);
      const x = (seqAfter - lo + 1) * pitch;
      const off = x < 0 ? "left" : x > right ? "right" : "";
      el.dataset.off = off;
      el.dataset.seq = String(seqAfter);
      this.slide(el, seqAfter, xOf, animate);
      el.hidden = false;
    };
    if (!data) {
      if (lane.markEls) for (const el of Object.values(lane.markEls)) el.hidden = true;
      return;
    }
    const name = data.name;
    if (typeof data.cursor === "number") put("last", data.cursor, `${name}: Last Delivered ${fmt(data.cursor)}`);
    if (typeof data.floor === "number") put("floor", data.floor, `${name}: Ack Floor ${fmt(data.floor)}`);
    if (typeof data.start === "number")
      put("start", data.start - 1, `${name}: starts at ${fmt(data.start)}`);
  }

  // Put a mark on the boundary after seq and slide it there from the sequence it was on.
  // The slide runs in sequences, drawn in the current layout (xOf): it goes from the old
  // cursor's cell to the new one's even when the window or the cell size changed meanwhile,
  // so a mark is never off the cells the learner sees. It starts when the frame is drawn: a
  // CSS transition would start whenever the browser next styles the mark, and a board
  // scrolled out of view (JupyterLab skips styling off-screen cells) would slide in from
  // frames long gone.
  slide(el, seq, xOf, animate = true) {
    const x = xOf(seq);
    const running = el.fkSlide;
    let from = el.fkSeq;
    if (running && running.playState === "running") {
      const p = running.effect.getComputedTiming().progress || 0;
      from = running.fkFrom + (running.fkTo - running.fkFrom) * p;
      running.cancel();
    }
    el.fkSeq = seq;
    el.fkSlide = null;
    el.style.transform = `translateX(${x}px)`;
    if (!animate || from === undefined || REDUCED_MOTION.matches) return;
    const start = xOf(from);
    if (Math.abs(start - x) < 0.5) return;
    const anim = el.animate(
      [{ transform: `translateX(${start}px)` }, { transform: `translateX(${x}px)` }],
      { duration: SLIDE_MS, easing: "ease-out" },
    );
    anim.fkFrom = from;
    anim.fkTo = seq;
    el.fkSlide = anim;
  }

  drawTable(frame) {
    const lanes = frame.lanes || [];
    const cols = [...this.columns]; // the CLI's names, from Python (report.COLUMNS)
    for (const lane of lanes) {
      for (const k of Object.keys(lane.numbers || {})) if (!cols.includes(k)) cols.push(k);
    }
    // Filters get full-width rows of their own in a narrow board, or when a list is long.
    const narrow =
      Boolean(this.narrow) ||
      lanes.some((l) => (l.filters || []).join(", ").length > LONG_FILTERS_CHARS);
    const key = cols.join("|") + (narrow ? "|narrow" : "");
    if (key !== this.tableKey) {
      this.tableKey = key;
      const caption = h("caption", {
        class: "fk-sr-only",
        text: "Consumer numbers, under the names the nats CLI uses",
      });
      const head = h(
        "tr",
        {},
        h("th", { scope: "col", text: "consumer" }),
        narrow ? null : h("th", { scope: "col", text: "filters" }),
        ...cols.map((c) => h("th", { scope: "col", class: "fk-num", text: c })),
        h("th", { scope: "col", text: "lag" }),
        h("th", { scope: "col", text: "worker" }),
      );
      this.tbody = h("tbody");
      this.table.replaceChildren(caption, h("thead", {}, head), this.tbody);
    }
    const lagMax = Math.max(1, frame.lag_max || 0);
    const width = cols.length + 4 - (narrow ? 1 : 0);
    const rows = lanes.flatMap((lane) => {
      const numbers = lane.numbers || {};
      const notes = [lane.note, lane.paused_until ? "paused" : null].filter(Boolean).join(", ");
      const note = notes ? h("span", { class: "fk-note", text: ` (${notes})` }) : null;
      const list = lane.filters && lane.filters.length ? lane.filters : ["all subjects"];
      // One box per filter: lines break between filters, inside one only if it is too long.
      const filters = () =>
        list.flatMap((f, i) => [
          i ? " " : null,
          h("span", { class: "fk-filter", text: i < list.length - 1 ? `${f},` : f }),
        ]);
      const row = h(
        "tr",
        { class: lane.note === "deleted" ? "fk-deleted" : null },
        h(
          "th",
          { scope: "row", class: lane.name.length <= NOWRAP_CHARS ? "fk-nowrap" : null },
          lane.name,
          note,
        ),
        narrow ? null : h("td", { class: "fk-filters" }, ...filters()),
        ...cols.map((c) =>
          h("td", { class: "fk-num", text: numbers[c] === undefined ? "" : fmt(numbers[c]) }),
        ),
        h("td", { class: "fk-lag" }, this.sparkline(lane.lag || [], lagMax, lane.name)),
        h("td", { class: "fk-worker" }, ...workerWords(lane.worker)),
      );
      if (!narrow) return [row];
      row.classList.add("fk-has-filter-row");
      const filterRow = h(
        "tr",
        { class: "fk-filter-row" },
        h("td", { class: "fk-filters", colspan: width }, `${lane.name} filters: `, ...filters()),
      );
      return [row, filterRow];
    });
    this.tbody.replaceChildren(...rows);
    this.tableBox.hidden = !lanes.length;
    // A closed board's numbers are its last reading: dimmed and said so (nothing updates
    // Waiting Pulls, Unprocessed, ... any more).
    const closed = (frame.status || {}).board === "closed";
    this.tableBox.classList.toggle("fk-stale", closed);
    this.staleNote.hidden = !closed;
    this.staleNote.textContent = closed
      ? `Numbers as of closing (t = ${seconds(frame.t)}): nothing updates them any more.`
      : "";
  }

  sparkline(values, top, name) {
    const w = 64;
    const ht = 18;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", String(w));
    svg.setAttribute("height", String(ht));
    svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
    svg.setAttribute("role", "img");
    const now = values.length ? values[values.length - 1] : 0;
    const peak = values.length ? Math.max(...values) : 0;
    svg.setAttribute(
      "aria-label",
      `${name} Unprocessed over time: now ${fmt(now)}, peak ${fmt(peak)} (scale 0 to ${fmt(top)})`,
    );
    const base = document.createElementNS(SVG, "line");
    base.setAttribute("x1", "0");
    base.setAttribute("x2", String(w));
    base.setAttribute("y1", String(ht - 0.5));
    base.setAttribute("y2", String(ht - 0.5));
    base.setAttribute("class", "fk-lag-base");
    svg.append(base);
    if (values.length >= 2) {
      const step = w / (values.length - 1);
      const pts = values
        .map((v, i) => `${(i * step).toFixed(1)},${(ht - 1 - (v / top) * (ht - 2)).toFixed(1)}`)
        .join(" ");
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", pts);
      line.setAttribute("class", "fk-lag-line");
      svg.append(line);
    }
    return svg;
  }

  // A polite live region: what changed, at most every SUMMARY_EVERY_MS, only when live.
  speak(frame) {
    if (this.viewing !== null || this.mode !== "live") return;
    const text = frame.summary || "";
    if (!text || text === this.lastSummary) return;
    const wait = this.summaryAt + SUMMARY_EVERY_MS - Date.now();
    if (wait > 0) {
      clearTimeout(this.summaryTimer);
      this.summaryTimer = setTimeout(() => this.speak(this.current()), wait);
      return;
    }
    this.lastSummary = text;
    this.summaryAt = Date.now();
    this.live.textContent = text;
  }
}

const cueWords = {
  stripes: "striped",
  dot: "dot",
  cross: "cross",
  bars: "bars",
  strike: "line through",
  short: "short",
  dashed: "dashed outline",
  notch: "corner notch",
};

// anywidget entry point: one BoardView per displayed output.
function render({ model, el }) {
  const view = new BoardView(el, {
    historyLimit: model.get("history_limit") || 600,
    reportCapacity: (n) => {
      if (model.get("capacity") !== n) {
        model.set("capacity", n);
        model.save_changes();
      }
    },
  });
  view.setLegend(model.get("legend"));
  view.columns = model.get("columns") || [];
  view.receive(model.get("frame"));
  const onFrame = () => view.receive(model.get("frame"));
  const onLegend = () => view.setLegend(model.get("legend"));
  model.on("change:frame", onFrame);
  model.on("change:legend", onLegend);
  return () => {
    model.off("change:frame", onFrame);
    model.off("change:legend", onLegend);
    view.destroy();
  };
}

// The exported player: the same view over the recorded frames, with the slider and Play.
export function mountPlayer(el, data) {
  const view = new BoardView(el, { mode: "replay", historyLimit: data.frames.length || 1 });
  view.setLegend(data.legend);
  view.columns = data.columns || [];
  view.loadHistory(data.frames);
  view.scrub(data.frames.length - 1);
  return view;
}

export default { render };
