"""Lag over time: sample every consumer of a stream cheaply, and plot them on one scale.

``recorder = await record_lag(js, "EVENTS")`` samples once a second (``interval``) with ONE
consumer-list request per tick (``$JS.API.CONSUMER.LIST``, up to 256 consumers an answer; more
take one request per 256), counted in :attr:`LagRecorder.api_calls`, instead of one
``consumer_info`` per consumer. Each sample keeps, per consumer, its lag (``num_pending``, the
**Unprocessed** count the board and the ``nats`` CLI show), its Outstanding Acks and its
delivered count (for the delivery rate).

``recorder.plot(publishes=record)`` draws lag and delivery rate for every consumer on ONE
shared scale (a consumer 39k behind looks twice as far behind as one at 19k), with the publish
rate beside them, as an inline SVG: no plotting library, colours from a palette readable on
light and dark JupyterLab themes, axes and text in the theme's own colour (``currentColor``),
and a table under it with the same numbers for screen readers and for copying.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import time
from dataclasses import dataclass, field

from nats.js import JetStreamContext

from .load import PublishRecord
from .topology import CONSUMER_PAGE, consumers_of, validate_name
from .validate import bad_type, check_js, check_seconds

__all__ = ["LagPlot", "LagRecorder", "LagSample", "record_lag"]

# Mid-tone colours with enough contrast on white and on JupyterLab's dark background;
# past eight consumers the dash pattern changes too.
PALETTE = (
    "#3b82f6",
    "#ef4444",
    "#10b981",
    "#f59e0b",
    "#a855f7",
    "#ec4899",
    "#14b8a6",
    "#84cc16",
)
DASHES = ("", "6 3", "2 3", "8 3 2 3")
PUBLISH_COLOUR = "currentColor"


@dataclass(frozen=True, slots=True)
class LagSample:
    """One tick: ``t`` seconds after the recorder started; numbers per consumer name."""

    t: float
    lag: dict[str, int]
    ack_pending: dict[str, int]
    delivered: dict[str, int]
    stream_last: int | None


def _fmt(n: float) -> str:
    if abs(n) >= 10_000:
        return f"{n / 1000:,.0f}k"
    if abs(n) >= 1000:
        return f"{n / 1000:,.1f}k"
    return f"{n:,.0f}"


def _nice_max(value: float) -> float:
    """A round number at or above ``value`` for an axis (1, 2, 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


@dataclass(frozen=True)
class LagPlot:
    """The figure: ``_repr_html_`` draws it; ``rows()`` and ``repr()`` are its text form."""

    stream: str
    times: list[float]
    lag: dict[str, list[int]]
    rate: dict[str, list[float]]
    rate_times: list[float]
    publish: list[tuple[float, float]] = field(default_factory=list)
    api_calls: int = 0

    def rows(self) -> list[dict[str, str | int | float]]:
        """Per consumer: lag at the end, highest lag, mean delivery rate (per second)."""
        out: list[dict[str, str | int | float]] = []
        for name, series in self.lag.items():
            rates = self.rate.get(name) or [0.0]
            out.append(
                {
                    "consumer": name,
                    "lag at end": series[-1] if series else 0,
                    "max lag": max(series, default=0),
                    "mean deliveries/s": round(sum(rates) / len(rates), 1),
                }
            )
        return out

    def summary(self) -> str:
        span = self.times[-1] if self.times else 0.0
        rows = sorted(self.rows(), key=lambda r: -int(r["max lag"]))
        worst = (
            f"; most behind: {rows[0]['consumer']} (max lag {int(rows[0]['max lag']):,})"
            if rows
            else ""
        )
        pub = ""
        if self.publish:
            pub = f"; publish rate up to {max(r for _, r in self.publish):,.0f}/s"
        return (
            f"Lag of {len(self.lag)} consumers of {self.stream} over {span:.0f} s, "
            f"{len(self.times)} samples{worst}{pub}"
        )

    def __repr__(self) -> str:
        lines = [self.summary()]
        width = max((len(str(r["consumer"])) for r in self.rows()), default=8)
        lines.append(f"  {'consumer':{width}}  lag at end   max lag   mean deliveries/s")
        for r in self.rows():
            lines.append(
                f"  {r['consumer']!s:{width}}  {int(r['lag at end']):>10,}  "
                f"{int(r['max lag']):>8,}   {float(r['mean deliveries/s']):>17,.1f}"
            )
        return "\n".join(lines)

    def _panel(
        self,
        top: float,
        height: float,
        series: list[tuple[str, list[tuple[float, float]], str, str, float]],
        title: str,
        x_max: float,
        left: float,
        width: float,
    ) -> str:
        y_max = _nice_max(max((v for _, pts, _, _, _ in series for _, v in pts), default=0))
        parts = [
            f'<text x="{left - 48}" y="{top - 16}" font-weight="bold">{html.escape(title)}</text>',
        ]
        for frac in (0.0, 0.5, 1.0):
            y = top + height - frac * height
            parts.append(
                f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="currentColor" stroke-opacity="{0.45 if frac == 0 else 0.15}"/>'
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{_fmt(frac * y_max)}</text>"
            )
        for name, pts, colour, dash, w in series:
            if not pts:
                continue
            coords = " ".join(
                f"{left + (t / x_max) * width:.1f},{top + height - (v / y_max) * height:.1f}"
                for t, v in pts
            )
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="{w}"{dash_attr} '
                f'points="{coords}"><title>{html.escape(name)}</title></polyline>'
            )
        return "".join(parts)

    def _repr_html_(self) -> str:
        names = list(self.lag)
        style = {
            n: (PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % 4])
            for i, n in enumerate(names)
        }
        x_max = max([*self.times, *(t for t, _ in self.publish), 1.0])
        left, width, panel = 56.0, 600.0, 150.0
        lag_series = [
            (n, list(zip(self.times, map(float, self.lag[n]), strict=True)), *style[n], 1.8)
            for n in names
        ]
        rate_series = [
            (n, list(zip(self.rate_times, self.rate[n], strict=True)), *style[n], 1.8)
            for n in names
            if self.rate.get(n)
        ]
        if self.publish:
            rate_series.insert(0, ("published/s", self.publish, PUBLISH_COLOUR, "4 3", 2.6))
        top1 = 34.0
        top2 = top1 + panel + 64
        height = top2 + panel + 36
        axis = "".join(
            f'<text x="{left + frac * width:.1f}" y="{top2 + panel + 18}" text-anchor="middle">'
            f"{frac * x_max:.0f} s</text>"
            for frac in (0.0, 0.25, 0.5, 0.75, 1.0)
        )
        summary = html.escape(self.summary())
        svg = (
            f'<svg role="img" aria-label="{summary}" viewBox="0 0 {left + width + 30} '
            f'{height}" width="{left + width + 30}" fill="currentColor" '
            'style="max-width:100%;height:auto;'
            'font:12px var(--jp-ui-font-family, sans-serif);color:inherit">'
            f"<title>{summary}</title>"
            + self._panel(
                30, panel, lag_series, "lag (Unprocessed), one scale for all", x_max, left, width
            )
            + self._panel(
                top2,
                panel,
                rate_series,
                "deliveries/s per consumer, and published/s (dashed)",
                x_max,
                left,
                width,
            )
            + axis
            + "</svg>"
        )
        head = "".join(
            f"<th>{html.escape(h)}</th>"
            for h in ("", "consumer", "lag at end", "max lag", "mean deliveries/s")
        )
        body = "".join(
            "<tr>"
            f'<td><svg width="28" height="10" aria-hidden="true"><line x1="0" x2="28" y1="5" '
            f'y2="5" stroke="{style[str(r["consumer"])][0]}" stroke-width="3" '
            f'stroke-dasharray="{style[str(r["consumer"])][1]}"/></svg></td>'
            f"<td>{html.escape(str(r['consumer']))}</td><td>{int(r['lag at end']):,}</td>"
            f"<td>{int(r['max lag']):,}</td><td>{float(r['mean deliveries/s']):,.1f}</td></tr>"
            for r in self.rows()
        )
        caption = f"<caption style='text-align:left'>{summary}</caption>"
        return (
            f'<div class="fk-lag-plot" style="color:var(--jp-content-font-color1, inherit)">{svg}'
            f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )


class LagRecorder:
    """Samples every consumer of ``stream`` every ``interval`` seconds (see :func:`record_lag`)."""

    def __init__(self, js: JetStreamContext, stream: str, *, interval: float = 1.0) -> None:
        self.js = check_js(js)
        self.stream = validate_name(stream, "stream")
        self.interval = check_seconds(interval, "interval", "1.0")
        self.samples: list[LagSample] = []
        self.api_calls = 0
        """Consumer-list requests made so far (one per tick up to 256 consumers)."""
        self.last_error: str | None = None
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def sample(self) -> LagSample:
        """Take one sample now (one consumer-list request per 256 consumers)."""
        infos = list((await consumers_of(self.js, self.stream)).values())
        self.api_calls += len(infos) // CONSUMER_PAGE + 1  # one request per page
        t = time.monotonic() - self._t0
        lag = {ci.name: ci.num_pending or 0 for ci in infos}
        ack_pending = {ci.name: ci.num_ack_pending or 0 for ci in infos}
        delivered = {ci.name: ci.delivered.consumer_seq if ci.delivered else 0 for ci in infos}
        tops = [
            (ci.delivered.stream_seq if ci.delivered else 0) + (ci.num_pending or 0)
            for ci in infos
            if not ci.config.filter_subject and not ci.config.filter_subjects
        ]
        sample = LagSample(t, lag, ack_pending, delivered, max(tops) if tops else None)
        self.samples.append(sample)
        return sample

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stopping:
            try:
                await self.sample()
            except Exception as exc:  # a tick missed during an election is a gap, not a crash
                self.last_error = f"{type(exc).__name__}: {exc}"
            next_at += self.interval
            if next_at < loop.time():
                # A tick took longer than the interval (an election, a busy server): skip
                # the ticks it missed instead of sampling them back to back, which would
                # draw delivery rates over a few milliseconds as bursts that never happened.
                next_at = loop.time() + self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.last_error = f"{type(task.exception()).__name__}: {task.exception()}"

    async def start(self) -> LagRecorder:
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name=f"fanout-kit-lag-{self.stream}")
            self._task.add_done_callback(self._on_done)
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The flag as well as the cancel: on Python 3.11 a cancel that lands while a
            # request's reply arrives is swallowed by asyncio.wait_for (inside nats-py), and
            # the loop would sample on forever with stop() waiting for it.
            self._stopping = True
            task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            finally:
                self._stopping = False

    def plot(self, publishes: PublishRecord | None = None) -> LagPlot:
        """The figure of everything sampled so far; ``publishes`` adds its send rate."""
        if publishes is not None and not isinstance(publishes, PublishRecord):
            fits = "what publish_paced returned, or None"
            raise bad_type("publishes", publishes, fits, "await publish_paced(js, ...)")
        names = sorted({n for s in self.samples for n in s.lag})
        times = [s.t for s in self.samples]
        lag = {n: [s.lag.get(n, 0) for s in self.samples] for n in names}
        rate: dict[str, list[float]] = {n: [] for n in names}
        rate_times: list[float] = []
        for a, b in itertools.pairwise(self.samples):
            dt = b.t - a.t
            if dt <= 0:
                continue
            rate_times.append(b.t)
            for n in names:
                moved = b.delivered.get(n, 0) - a.delivered.get(n, 0)
                rate[n].append(max(0, moved) / dt)
        publish: list[tuple[float, float]] = []
        if publishes is not None:
            offset = publishes.started_at - self.started_at
            publish = [(offset + s + 0.5, float(n)) for s, n in publishes.sends_per_second()]
        else:
            tops = [(s.t, s.stream_last) for s in self.samples if s.stream_last is not None]
            for (t1, v1), (t2, v2) in itertools.pairwise(tops):
                if t2 > t1 and v1 is not None and v2 is not None:
                    publish.append((t2, max(0, v2 - v1) / (t2 - t1)))
        return LagPlot(self.stream, times, lag, rate, rate_times, publish, self.api_calls)

    def _repr_html_(self) -> str:
        return self.plot()._repr_html_()

    def __repr__(self) -> str:
        state = "recording" if self.running else "stopped"
        return (
            f"<LagRecorder {self.stream}: {state}, {len(self.samples)} samples, "
            f"{self.api_calls} API calls>"
        )


async def record_lag(js: JetStreamContext, stream: str, *, interval: float = 1.0) -> LagRecorder:
    """Start sampling every consumer of ``stream`` every ``interval`` seconds; return the
    running :class:`LagRecorder` (``await recorder.stop()``, then ``recorder.plot()``)."""
    recorder = LagRecorder(js, stream, interval=interval)
    return await recorder.start()
