"""The investigator per incident: time without an LLM, and LLM calls and tokens with one.

    .venv/bin/python -m bench.bench_agent [--size 40] [--days 7] [--scenarios a,b,...]
                                          [--budget-tokens 8000]

For each fault scenario a simulated stack is loaded into a fresh SQLite store and detected
on; every incident is then investigated twice by the full graph (evidence, ranking,
explanation, proposals, risk gate): once with the narrator only (no LLM: the time is the
number), once with a model. The model is the configured one (FLOWSLEUTH_LLM_MODEL /
FLOWSLEUTH_LLM_BASE_URL) or, without configuration, a local OpenAI-compatible stub that
answers like a well-behaved model (it writes from the evidence it was sent), reached
through ChatOpenAI over HTTP like a real endpoint. Prints per-scenario rows and the medians;
exits 1 when an investigation makes more than one narrative call or the median input
exceeds the budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.graph import AgentDeps, AgentResult, investigate_incident, open_checkpointer
from agent.llm import LLMSettings, chat_model_from_env
from agent.llm.narrator import narrate
from tools.incidents.investigate import investigate
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.simulate import FaultSpec, SimConfig
from tools.simulate.config import SimConfigError
from tools.simulate.load import load_simulation
from tools.store import Store, open_store, to_micros
from tools.timeutil import parse_timestamp

SCENARIOS = (
    "renamed_source_column",
    "failed_staging_job",
    "expired_vendor_token",
    "partial_pos_load",
    "duplicate_file_replay",
    "shared_identifier_overmerge",
    "campaign_pacing_bug",
    "consent_export_missing_withdrawals",
)
END = parse_timestamp("2026-03-10T00:00:00Z")


def registry() -> ExecutorRegistry:
    executor = SimulatorExecutor(InMemorySimulator())
    out = ExecutorRegistry()
    for name in ("simulator", "http", "sql"):
        out.add(executor, as_name=name)
    return out


@contextmanager
def model_for_bench() -> Iterator[tuple[BaseChatModel, str]]:
    configured = chat_model_from_env()
    if configured is not None:
        yield configured, f"configured endpoint ({LLMSettings().model})"
        return
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from tests.helpers.openai_stub import serve_openai_stub

    def writes_from_evidence(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        return narrate(json.loads(user.split("\n", 1)[1]))

    stub_script: list[Any] = [writes_from_evidence] * 10_000
    with serve_openai_stub(stub_script) as stub:
        model = ChatOpenAI(
            model="stub",
            base_url=stub.base_url,
            api_key=SecretStr("not-needed"),
            use_responses_api=False,
            max_retries=0,
        )
        yield model, "local OpenAI-compatible stub over HTTP"


def run_once(
    store: Store, incident: int, at_us: int, model: BaseChatModel | None, folder: Path, tag: str
) -> tuple[AgentResult, float]:
    deps = AgentDeps(
        store=store,
        executors=registry(),
        model=model,
        now_us=at_us,
        budget_tokens=LLMSettings().max_input_tokens,
    )
    # A checkpoint file per run: each run is a fresh investigation, not a resumed one.
    with open_checkpointer(store, str(folder / f"cp-{tag}-{incident}.db")) as saver:
        began = time.perf_counter()
        result = investigate_incident(deps, incident, at_us, saver)
        return result, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--budget-tokens", type=int, default=8000)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with model_for_bench() as (model, where), tempfile.TemporaryDirectory() as tmp:
        print(f"model: {where}")
        header = (
            f"{'scenario':<36}{'inc':>4}{'detect s':>9}{'no-LLM s':>9}{'LLM s':>7}"
            f"{'calls':>6}{'est in':>8}{'in':>7}{'out':>6}  explained by"
        )
        print(header)
        for name in args.scenarios.split(","):
            folder = Path(tmp) / name
            folder.mkdir()
            store = open_store(f"sqlite:///{folder / 'fs.db'}")
            try:
                config = SimConfig(
                    end=END, size=args.size, days=args.days, scenarios=[FaultSpec(name)]
                )
                load_simulation(store, config, folder)
            except SimConfigError as exc:
                print(f"{name:<36} skipped: {exc}")
                store.dispose()
                continue
            at = to_micros(END)
            began = time.perf_counter()
            doc = investigate(store, at)
            detect_s = time.perf_counter() - began
            for inc in doc.incidents:
                plain, plain_s = run_once(store, inc.id, at, None, folder, "plain")
                llm, llm_s = run_once(store, inc.id, at, model, folder, "llm")
                usage = llm.llm
                row = {
                    "scenario": name,
                    "incident": inc.id,
                    "detect_s": detect_s,
                    "plain_s": plain_s,
                    "llm_s": llm_s,
                    "calls": usage.get("calls", 0),
                    "estimated": usage.get("estimated_input_tokens", 0),
                    "input": usage.get("input_tokens", 0),
                    "output": usage.get("output_tokens", 0),
                    "source": (llm.explanation or {}).get("source"),
                    "plain_source": (plain.explanation or {}).get("source"),
                }
                rows.append(row)
                print(
                    f"{name:<36}{inc.id:>4}{detect_s:>9.2f}{plain_s:>9.2f}{llm_s:>7.2f}"
                    f"{row['calls']:>6}{row['estimated']:>8}{row['input']:>7}{row['output']:>6}"
                    f"  {row['source']}"
                )
            store.dispose()
    if not rows:
        print("no incidents: nothing measured")
        return 1
    plain_times = [r["plain_s"] for r in rows]
    estimated = [r["estimated"] for r in rows]
    total = [r["input"] + r["output"] for r in rows]
    print(
        f"\n{len(rows)} investigations. No-LLM investigation (graph) median "
        f"{statistics.median(plain_times):.2f} s, max {max(plain_times):.2f} s; detection "
        f"median {statistics.median(r['detect_s'] for r in rows):.2f} s per store."
    )
    print(
        f"LLM: median {statistics.median(r['calls'] for r in rows):g} call(s) per investigation, "
        f"median input {statistics.median(estimated):.0f} tokens estimated "
        f"(max {max(estimated)}, budget {args.budget_tokens}), "
        f"median {statistics.median(total):.0f} tokens in+out as the server counted; "
        f"{sum(r['source'] == 'llm' for r in rows)}/{len(rows)} LLM explanations passed "
        "grounding."
    )
    ok = all(r["calls"] <= 1 for r in rows) and statistics.median(estimated) <= args.budget_tokens
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
