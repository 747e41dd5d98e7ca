"""Render the bench results (the dict `bench.__main__` collects) as docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import ROOT

FINDINGS = ROOT / "bench" / "findings.md"
TARGET_TPUT, TARGET_CPU, TARGET_STATUS_P99_MS = 0.95, 1.2, 100.0
#: issue 18's targets against the plain baseline (`bench/plain.py`)
TARGET_TPUT_PLAIN, TARGET_CPU_PLAIN = 0.97, 1.10


def _f(x: Any, digits: int = 1) -> str:
    return f"{x:.{digits}f}" if isinstance(x, int | float) else str(x)


def _ok(good: bool) -> str:
    return "met" if good else "**NOT met**"


def machine(res: dict[str, Any]) -> list[str]:
    facts = res["machine"] | {"load average at end (1/5/15 min)": res.get("load_end", "?")}
    out = ["| fact | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts.items()), ""]
    if res.get("sections"):
        out += ["| section | seconds | load average after (1/5/15 min) |", "|---|---|---|"]
        out += [f"| {s['section']} | {s['seconds']} | {s['load_after']} |" for s in res["sections"]]
        out.append("")
    return out


def overhead(o: dict[str, Any]) -> list[str]:
    shapes = o["shapes"]
    out = [
        f"Three sides on one dev server, one client and one process: **relayflow** (the template, "
        "started as `POST /runs` starts it), the **plain** baseline (`bench/plain.py`: hand-written "
        "workflows calling a bare `@activity.defn` on a default `Worker` — no relayflow activity "
        "wrapper, no `AttemptInterceptor`) and the **wrapped** baseline (`bench/handwritten.py`, the "
        "baseline of earlier reports: hand-written workflows on the relayflow worker calling the "
        f"relayflow-wrapped `noop` action). {o['rounds']} rounds per shape; each round = one batch "
        "per side, the order rotating every round (A B C, B C A, C A B, …); batch size per shape "
        f"below, {o['concurrency']} runs in flight. Latency = start call → result. CPU = rusage of "
        "the one process running client + workers, divided by runs; server CPU = the dev server "
        "process's CPU, divided by runs. `diamond-10` = three diamonds in a row (d0 → (l1, r1) → "
        "d1 → … → d3, 10 steps).",
        "",
        f"### relayflow vs the plain baseline (targets: throughput ≥ {TARGET_TPUT_PLAIN}×, "
        f"client + worker CPU ≤ {TARGET_CPU_PLAIN}×)",
        "",
        "| shape | acts | runs/batch | runs/s rf / plain | **tput ratio** (per-round median; min–max) | "
        "CPU ms/run rf / plain | **CPU ratio** | total CPU ratio | added ms/step from run latency "
        "p50 / p99 | added ms/step from history: step p50 / p99 (react p50 / p99) | history events rf / plain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in shapes:
        rf, pl, v = s["relayflow"], s["plain"], s["vs"]["relayflow/plain"]
        rr, a = v["round_throughput_ratios"], v["step_added"]
        out.append(
            f"| {s['shape']} | {s['activities']} | {s['runs_per_batch']} | {_f(rf['runs_per_s'])} / "
            f"{_f(pl['runs_per_s'])} | **{_f(v['throughput_ratio'], 3)}** "
            f"({_f(v['median_round_throughput_ratio'], 2)}; {_f(min(rr), 2)}–{_f(max(rr), 2)}) | "
            f"{_f(rf['cpu_ms_per_run'])} / {_f(pl['cpu_ms_per_run'])} | **{_f(v['cpu_ratio'], 3)}** | "
            f"{_f(v['total_cpu_ratio'], 3)} | {_f(v['run_added_p50_ms_per_step'], 2)} / "
            f"{_f(v['run_added_p99_ms_per_step'], 2)} | {_f(a['step_p50_ms'], 2)} / {_f(a['step_p99_ms'], 2)} "
            f"({_f(a['react_p50_ms'], 2)} / {_f(a['react_p99_ms'], 2)}) | "
            f"{_events(rf['history'])} / {_events(pl['history'])} |"
        )
    out += ["", *_verdict(shapes, "relayflow/plain", TARGET_TPUT_PLAIN, TARGET_CPU_PLAIN), ""]
    out += [
        "- Added latency per step, two ways: *from run latency* = (relayflow − plain) end-to-end "
        f"p50 (p99) divided by the shape's activities, at {o['concurrency']} runs in flight (so it "
        "includes queueing for the CPU); *from history* = the p50 (p99) of every sampled activity's "
        "cycle in the server's event times (`bench/steplat.py`: react = activity scheduled − the "
        "completion before it, i.e. workflow task + engine; + dispatch = scheduled → started; + "
        "exec = started → completed), relayflow minus plain. Parallel shapes overlap steps, so "
        "their run-latency figure understates the per-step cost.",
        "",
        *_unloaded(o.get("unloaded")),
        "### relayflow vs the wrapped baseline (as in earlier reports)",
        "",
        "| shape | acts | runs/s rf / wrapped | **tput ratio** (per-round median; min–max) | "
        "p50 ms rf / wrapped | p99 ms rf / wrapped | CPU ms/run rf / wrapped | **CPU ratio** | "
        "server CPU ms/run rf / wrapped | total CPU ratio | history events rf / wrapped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in shapes:
        rf, hw, v = s["relayflow"], s["handwritten"], s["vs"]["relayflow/handwritten"]
        rr = v["round_throughput_ratios"]
        out.append(
            f"| {s['shape']} | {s['activities']} | {_f(rf['runs_per_s'])} / "
            f"{_f(hw['runs_per_s'])} | **{_f(v['throughput_ratio'], 3)}** "
            f"({_f(v['median_round_throughput_ratio'], 2)}; {_f(min(rr), 2)}–{_f(max(rr), 2)}) | "
            f"{_f(rf['p50_ms'], 0)} / {_f(hw['p50_ms'], 0)} | "
            f"{_f(rf['p99_ms'], 0)} / {_f(hw['p99_ms'], 0)} | {_f(rf['cpu_ms_per_run'])} / "
            f"{_f(hw['cpu_ms_per_run'])} | **{_f(v['cpu_ratio'], 3)}** | "
            f"{_f(rf['server_cpu_ms_per_run'])} / {_f(hw['server_cpu_ms_per_run'])} | "
            f"{_f(v['total_cpu_ratio'], 3)} | {_events(rf['history'])} / {_events(hw['history'])} |"
        )
    out += ["", *_verdict(shapes, "relayflow/handwritten", TARGET_TPUT_PLAIN, TARGET_CPU_PLAIN), ""]
    out += [
        "### What the wrapper and interceptor cost (wrapped vs plain)",
        "",
        "| shape | tput ratio wrapped / plain | CPU ratio | exec added p50 / p99 ms per activity |",
        "|---|---|---|---|",
    ]
    for s in shapes:
        v = s["vs"]["handwritten/plain"]
        out.append(
            f"| {s['shape']} | {_f(v['throughput_ratio'], 3)} | {_f(v['cpu_ratio'], 3)} | "
            f"{_f(v['step_added']['exec_p50_ms'], 2)} / {_f(v['step_added']['exec_p99_ms'], 2)} |"
        )
    linear_equal = all(
        len({(s[side]["history"]["min"], s[side]["history"]["max"]) for side in s["sides"]}) == 1
        and s["relayflow"]["history"]["min"] == s["relayflow"]["history"]["max"]
        for s in shapes if s["shape"].startswith("linear")
    )
    structural_equal = all(v["non_wft_equal"] for s in shapes for v in s["vs"].values())
    failed = sum(s[side]["failed"] for s in shapes for side in s["sides"])
    varying = [
        f"{s['shape']} {side}: " + ", ".join(f"{k} {a}–{b}" for k, (a, b) in s[side]["history"].get("varying", {}).items())
        for s in shapes for side in s["sides"] if s[side]["history"].get("varying")
    ]
    out += [
        "",
        f"- Failed runs (all sides): {failed}.",
        "- Event types whose count varied between sampled runs of one side: "
        + ("; ".join(varying) if varying else "none") + ".",
        f"- History: linear shapes have identical event counts on all three sides: "
        f"{_ok(linear_equal)}; every shape has the same non-workflow-task events (activity "
        f"scheduled/started/completed, start, completion) on all sides: {_ok(structural_equal)}. "
        "Parallel shapes vary in the number of workflow tasks on *every* side: activity "
        "completions that arrive together are batched into one workflow task, which is timing, "
        "not engine work (min–max over the sampled runs).",
        "",
    ]
    return out


def _unloaded(u: dict[str, Any] | None) -> list[str]:
    """Per-step latency with one run in flight (no queueing), from the histories."""
    if not u:
        return []
    out = [
        f"**Per-step latency unloaded** (`{u['shape']}`, one run at a time, "
        f"{u['relayflow']['runs']} runs per side, interleaved; gaps from the histories' event "
        "times, ms):",
        "",
        "| side | run p50 ms | step p50 / p99 | react p50 / p99 | dispatch p50 / p99 | exec p50 / p99 | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for side in u["sides"]:
        g = u[side]["history"]["step_gaps"]
        out.append(
            f"| {side} | {_f(u[side]['p50_ms'], 0)} | "
            + " | ".join(f"{_f(g[f'{k}_p50_ms'], 2)} / {_f(g[f'{k}_p99_ms'], 2)}"
                         for k in ("step", "react", "dispatch", "exec"))
            + f" | {g['steps']} |"
        )
    a = u["vs"]["relayflow/plain"]["step_added"]
    out += [
        "",
        f"- Added per step by relayflow over plain, unloaded: **p50 {_f(a['step_p50_ms'], 2)} ms, "
        f"p99 {_f(a['step_p99_ms'], 2)} ms** (react {_f(a['react_p50_ms'], 2)} / "
        f"{_f(a['react_p99_ms'], 2)} ms, exec {_f(a['exec_p50_ms'], 2)} / {_f(a['exec_p99_ms'], 2)} ms).",
        "",
    ]
    return out


def _verdict(shapes: list[dict[str, Any]], pair: str, t_tput: float, t_cpu: float) -> list[str]:
    vs = [s["vs"][pair] for s in shapes]
    tput = _geo([v["throughput_ratio"] for v in vs])
    cpu = _geo([v["cpu_ratio"] for v in vs])
    med = _geo([v["median_round_throughput_ratio"] for v in vs])
    capacity = 1 / _geo([v["total_cpu_ratio"] for v in vs])
    misses = []
    for s, v in zip(shapes, vs, strict=True):
        if v["throughput_ratio"] < t_tput:
            misses.append(f"{s['shape']} throughput {_f(v['throughput_ratio'], 3)} "
                          f"(per-round median {_f(v['median_round_throughput_ratio'], 2)})")
        if v["cpu_ratio"] > t_cpu:
            misses.append(f"{s['shape']} CPU {_f(v['cpu_ratio'], 3)}")
    return [
        f"- Geometric mean over shapes: throughput ratio **{_f(tput, 3)}** (≥ {t_tput}: "
        f"{_ok(tput >= t_tput)}; per-round medians {_f(med, 3)}), CPU-per-run ratio "
        f"**{_f(cpu, 3)}** (≤ {t_cpu}: {_ok(cpu <= t_cpu)}); capacity implied by total CPU per "
        f"run (client + worker + server) {_f(capacity, 3)}.",
        f"- Shapes missing a target on their own: {'; '.join(misses) or 'none'}.",
    ]


def _events(h: dict[str, Any]) -> str:
    return str(h["min"]) if h["min"] == h["max"] else f"{h['min']}–{h['max']}"


def _geo(xs: list[float]) -> float:
    prod = 1.0
    for x in xs:
        prod *= x
    return prod ** (1 / len(xs)) if xs else float("nan")


def approvals(a: dict[str, Any]) -> list[str]:
    rows = [
        ("runs parked at once", f"{a['runs']} (all parked: {a['all_parked']}, in {_f(a['park_seconds'])} s)"),
        ("`POST /runs` while parking (p50 / p99)", f"{_f(a['post_runs']['p50_ms'])} / {_f(a['post_runs']['p99_ms'])} ms"),
    ]
    for label, key in (("`status` query", "status_query"), ("`GET /runs/{id}`", "get_run")):
        for mode in ("sequential", "concurrent"):
            d = a[f"{key}_{mode}"]
            rows.append((f"{label}, {mode} (p50 / p99, n={d['n']})", f"{_f(d['p50_ms'])} / {_f(d['p99_ms'])} ms"))
    rows += [
        ("decide through the API (p50 / p99)", f"{_f(a['decide']['p50_ms'])} / {_f(a['decide']['p99_ms'])} ms; errors {a['decide_errors']}"),
        ("all decided → none running", f"{_f(a['drain_seconds'])} s"),
        ("completed / lost / stuck", f"{a['completed']} / {a['lost']} / {a['stuck']}"),
        ("worker RSS before / parked / after", f"{_f(a['worker_rss_mb_before'])} / {_f(a['worker_rss_mb_parked'])} / {_f(a['worker_rss_mb_after'])} MiB"),
    ]
    p99 = a["status_query_sequential"]["p99_ms"]
    return [
        "| what | result |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), "",
        f"- Target status p99 < {TARGET_STATUS_P99_MS:.0f} ms (one reader at a time): "
        f"{_ok(p99 < TARGET_STATUS_P99_MS)}; zero lost and zero stuck: "
        f"{_ok(a['lost'] == 0 and a['stuck'] == 0 and a['completed'] == a['runs'])}.",
        "",
    ]


def api_overhead(r: dict[str, Any]) -> list[str]:
    out = ["| mode | POST /runs p50 / p99 ms | direct start p50 / p99 ms | added p50 ms | starts/s API / direct (ratio) |",
           "|---|---|---|---|---|"]
    for mode in ("sequential", "concurrent"):
        m = r[mode]
        out.append(
            f"| {mode} ({m['concurrency']} in flight) | {_f(m['api']['p50_ms'])} / {_f(m['api']['p99_ms'])} | "
            f"{_f(m['direct']['p50_ms'])} / {_f(m['direct']['p99_ms'])} | {_f(m['p50_added_ms'])} | "
            f"{_f(m['api']['starts_per_s'])} / {_f(m['direct']['starts_per_s'])} ({_f(m['throughput_ratio'], 2)}) |"
        )
    return [*out, ""]


def faults(f: dict[str, Any]) -> list[str]:
    out = ["| scenario | runs | completed | lost | stuck | activities completed | deliveries | "
           "redelivered (same key) | **duplicated after completion** | POST attempts | worker starts | seconds |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in f.items():
        out.append(
            f"| {name} | {r['runs']} | {r['completed']} | {r['lost']} | {r['stuck']} | "
            f"{r['activities_completed']} | {r['deliveries']} | {r['redelivered']} | "
            f"**{r['duplicated_after_completion']}** | {r['post_attempts']} | {r['worker_starts']} | {r['seconds']} |"
        )
    out.append("")
    for name, r in f.items():
        out.append(f"- {name} timeline: " + "; ".join(e.strip() for e in r["events"]))
    return [*out, ""]


def profile(p: dict[str, Any]) -> list[str]:
    out = [f"py-spy at {p['rate_hz']} Hz on the bench process (client + worker), shape `{p['shape']}`; "
           "samples whose leaf is an idle wait are dropped.", ""]
    for side in ("relayflow", "handwritten"):
        r = p[side]
        if "error" in r:
            return [*out, f"- {side}: {r['error']}", ""]
        out.append(
            f"- {side}: {r['runs']} runs; busy samples/run {_f(r['busy_per_run'])}, in workflow "
            f"activations {_f(r['activation_per_run'])}, in activities {_f(r['activity_per_run'])}"
        )
    out += ["", "Project code, each busy sample charged to the deepest project frame on its stack "
            "(its library callees included; harness frames excluded), share of busy samples:", "",
            "| relayflow | share | hand-written | share |", "|---|---|---|---|"]
    rf, hw = p["relayflow"]["deepest_project"], p["handwritten"]["deepest_project"]
    for i in range(max(len(rf), len(hw))):
        a = rf[i] if i < len(rf) else ("", 0.0)
        b = hw[i] if i < len(hw) else ("", 0.0)
        out.append(f"| `{a[0]}` | {_f(a[1])}% | `{b[0]}` | {_f(b[1])}% |" if b[0] else f"| `{a[0]}` | {_f(a[1])}% | | |")
    out += ["", "Top self (leaf) frames, relayflow side (mostly the Temporal SDK: sandbox, bridge, "
            "data conversion — paid by both sides):", "", "| share | frame |", "|---|---|"]
    out += [f"| {_f(pct)}% | `{name}` |" for name, pct in p["relayflow"]["self_top"][:12]]
    return [*out, ""]


def codec(c: dict[str, Any]) -> list[str]:
    """Section 6: the same shape with and without the AES-GCM payload codec."""
    rows = ["| side | runs/s | p50 / p99 ms | CPU ms/run | server CPU ms/run | failed |", "|---|---|---|---|---|---|"]
    for side, r in c["sides"].items():
        rows.append(f"| {side} | {_f(r['runs_per_s'])} | {_f(r['p50_ms'], 0)} / {_f(r['p99_ms'], 0)} | "
                    f"{_f(r['cpu_ms_per_run'])} | {_f(r['server_cpu_ms_per_run'])} | {r['failed']} |")
    factor, added, tput = c["codec_cpu_factor"], c["codec_cpu_ms"], c["codec_tput_factor"]
    return [
        f"Shape `{c['shape']}` ({c['activities']} activities), {c['rounds']} rounds of one batch of "
        f"{c['runs_per_batch']} runs per side (order A B C D, D C B A, …), {c['concurrency']} in flight. "
        "`+codec` = the converter `PAYLOAD_KEYS` turns on (AES-256-GCM on every payload, failures "
        "encoded) on both the client and that side's worker; CPU as in section 1.",
        "",
        *rows,
        "",
        f"- {c['shape']} CPU ratio relayflow / hand-written: **{_f(c['cpu_ratio'], 3)}** without the "
        f"codec, **{_f(c['cpu_ratio_codec'], 3)}** with it.",
        f"- What the codec adds (client + worker CPU per run): relayflow +{_f(added['relayflow'])} ms "
        f"(x{_f(factor['relayflow'], 3)}), hand-written +{_f(added['handwritten'])} ms "
        f"(x{_f(factor['handwritten'], 3)}); throughput with / without: relayflow "
        f"{_f(tput['relayflow'], 3)}, hand-written {_f(tput['handwritten'], 3)}.",
        "- The codec alone (encrypt + decrypt one payload, CPU µs): "
        + ", ".join(f"{int(size):,} B {_f(us)}" for size, us in c.get("codec_us_per_payload", {}).items())
        + ". The rest of the added CPU is the SDK handing every payload of each activation, "
        "completion and client call to the codec and copying the result back.",
        "",
    ]


def _bigfan(result: dict[str, Any]) -> list[str]:
    from bench import bigfan  # type: ignore[attr-defined]  # written separately; present if it ran

    return [*bigfan.report(result).splitlines(), ""]


def render(res: dict[str, Any]) -> str:
    lines = [
        "# relayflow benchmarks",
        "",
        f"Generated by `{res['command']}` on {res['date']} in {_f(res['seconds'] / 60)} min. "
        "Every number below comes from that one run; rerun to refresh. Ratios are relayflow / "
        "hand-written (or API / direct) measured side by side in the same run, interleaved — "
        "absolute numbers depend on the machine and its load.",
        "",
        "## How to run",
        "",
        "- `make bench` (= `python -m bench`): everything below but the long sections, about 20 "
        "minutes on 2 shared cores; `python -m bench --quick` is a smoke run with small counts "
        "(about 4 minutes); `--only overhead,faults` runs a subset (sections: overhead, approvals, "
        "api_overhead, faults, profile, codec, analytics, startsize, scaleout, api_latency, bigfan); "
        "`--long` adds the long ones (bigfan). Raw numbers: `docs/benchmarks.json`.",
        "- One piece at a time: `python -m bench.overhead [--quick]`, `python -m bench.approvals N`, "
        "`python -m bench.api_overhead N`, `python -m bench.faults N worker,server,api`, "
        "`python -m bench.profile N` (needs `py-spy`, in the test extras), `python -m bench.codec [--quick]`, "
        "`python -m bench.startsize`, `python -m bench.scaleout [--quick]`, `python -m bench.api_latency N`.",
        "- In the test suite: `tests/bench/test_faults_short.py` (30 runs through worker SIGKILLs, "
        "an API SIGKILL and a Temporal restart, < 60 s) and `tests/bench/test_overhead_short.py` "
        "(history of a linear run = the hand-written one). Very long runs (3,000-iteration loop, "
        "2,000-item foreach at default limits) are `RELAYFLOW_FULL_LONG_RUNS=1 pytest "
        "tests/workflows/test_long_runs.py`.",
        "",
        "## Machine",
        "",
        *machine(res),
    ]
    sections = (
        ("overhead", "## 1. Engine overhead against hand-written Temporal workflows", overhead),
        ("approvals", "## 2. Approvals at scale", approvals),
        ("api_overhead", "## 3. API overhead: `POST /runs` vs `client.start_workflow`", api_overhead),
        ("faults", "## 4. Fault injection", faults),
        ("profile", "## 5. Profile of the interpreter's hot path", profile),
        ("codec", "## 6. Encrypted payloads: the codec's cost", codec),
    )
    from bench import analytics
    for key, title, fn in sections:
        lines += [title, ""]
        if key not in res:
            lines += ["(not run)", ""]
        elif "error" in res[key] and len(res[key]) == 1:
            lines += [f"Failed: `{res[key]['error']}`", ""]
        else:
            lines += fn(res[key])
    if "analytics" in res and "error" not in res["analytics"]:
        lines += [analytics.BEGIN, analytics.TITLE, "", *analytics.render(res["analytics"]), analytics.END, ""]
    else:
        lines += [analytics.BEGIN, analytics.TITLE, "", "(not run)", analytics.END, ""]
    from bench import api_latency, scaleout, startsize
    later = (
        ("startsize", "## 8. Start input size of the built-in templates", startsize.report),
        ("scaleout", "## 9. Scale-out: 1, 2 and 4 worker processes", scaleout.report),
        ("api_latency", "## 10. API latency with many open runs", api_latency.report),
        ("bigfan", "## 11. Big fan-out", _bigfan),
    )
    for key, title, fn in later:
        lines += [title, ""]
        if key not in res:
            lines += ["(not run; `--long` or `--only bigfan` runs it)" if key == "bigfan" else "(not run)", ""]
        elif "error" in res[key] and len(res[key]) == 1:
            lines += [f"Failed: `{res[key]['error']}`", ""]
        elif "skipped" in res[key]:
            lines += [f"Skipped: {res[key]['skipped']}", ""]
        else:
            lines += fn(res[key])
    if FINDINGS.exists():
        lines += ["## Findings and what changed", "", FINDINGS.read_text().strip(), ""]
    return "\n".join(lines)


def write(res: dict[str, Any], path: Path = ROOT / "docs" / "benchmarks.md") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(res))
    return path
