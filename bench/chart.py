"""The PNG chart (`bench-results/chart.png`): the API mix at equal cores, every server at 1 process
and at N, as requests per second and as CPU µs per request (medians over the rounds); and, when the
page mix ran at several numbers of shoppers, its p99 against them."""
from __future__ import annotations

from pathlib import Path

from bench.report import ROWS, SHOP_ROWS, TARGET_SHOPPERS, Report, label

COLOURS = {"memory": "tab:blue", "file": "tab:orange", "redis": "tab:green", "express-file": "tab:red",
           "express-redis": "tab:purple", "flask-file": "tab:brown", "flask-redis": "tab:pink",
           "ceiling": "tab:gray"}


def draw(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    api = [(row, n) for (m, row, n, s) in report.keys() if m == "api" and s == TARGET_SHOPPERS]
    page_counts = sorted({s for (m, _, _, s) in report.keys() if m == "page"})
    panels = 3 if len(page_counts) > 1 else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels + 2, max(4, 0.45 * len(api) + 2)))
    names = [label(row, n) for row, n in api]
    for axis, attr, title in ((axes[0], "rps", "requests per second"), (axes[1], "cpu_us", "CPU µs per request")):
        values = [getattr(report.get("api", row, n), attr) or 0 for row, n in api]
        axis.barh(range(len(api)), values, color=[COLOURS.get(row, "tab:gray") for row, _ in api],
                  hatch=None, alpha=0.9)
        for index, (row, n) in enumerate(api):
            if n > 1:
                axis.patches[index].set_hatch("//")
        axis.set_yticks(range(len(api)))
        axis.set_yticklabels(names if axis is axes[0] else [""] * len(api), fontsize="small")
        axis.invert_yaxis()
        axis.set_xlabel(title)
        axis.set_title(f"API mix, {TARGET_SHOPPERS} shoppers: {title}")
        axis.grid(True, axis="x", alpha=0.3)
    if panels == 3:
        axis = axes[2]
        for row in ROWS:
            for n in sorted({n for (m, r, n, _) in report.keys() if m == "page" and r == row}):
                points = [(s, report.get("page", row, n, s).p99_ms) for s in page_counts
                          if report.get("page", row, n, s) is not None]
                if points:
                    axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=COLOURS[row],
                              label=label(row, n), linestyle="-" if row in SHOP_ROWS else "--")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent shoppers")
        axis.set_ylabel("p99 ms (log scale)")
        axis.set_title("page mix: p99 latency")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="x-small")
    machine = report.machine
    fig.suptitle(f"Cart mixes at equal cores (hatched: {report.cores} processes), {report.seconds} s cells, "
                 f"{len(report.rounds)} rounds; {machine.get('CPU', '?')}, {machine.get('cores', '?')} cores, "
                 f"{machine.get('date', '')}", fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
