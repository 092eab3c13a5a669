"""The agent framework adapters, driven through each framework's own entry point with a
scripted model (no network): smolagents' ``CodeAgent.run``, langchain-core's tool invocation,
pydantic-ai's ``Agent.run_sync`` with its ``FunctionModel``. The libraries are the real ones
from PyPI, at the versions the package's extras pin.
"""
import pytest

import stockade

PY = "/usr/bin/python3.11"
POLICY = f'version = 1\n[python]\ninterpreter = "{PY}"\n'


# ----- smolagents -----


def test_smolagents_code_agent_runs_its_code_in_stockade_with_tools_as_host_functions():
    smolagents = pytest.importorskip("smolagents")
    from smolagents import CodeAgent, tool
    from smolagents.models import ChatMessage, MessageRole, Model

    from stockade.integrations.smolagents import StockadeExecutor

    calls = []

    @tool
    def lookup_price(item: str) -> float:
        """Look up an item's price in the shop's database.

        Args:
            item: the item's name.
        """
        calls.append(item)
        return {"apple": 0.5, "pear": 0.75}[item]

    steps = [
        # Step 1: use a tool, keep a variable, show that the jail is a jail.
        "Thought: prices first.\n<code>\napple = lookup_price('apple')\nprint('apple', apple)\n"
        "try:\n    open('/etc/shadow').read()\nexcept Exception as e:\n    print('refused', type(e).__name__)\n</code>",
        # Step 2: an error the agent sees and recovers from.
        "Thought: oops.\n<code>\nundefined_name + 1\n</code>",
        # Step 3: the variable from step 1 is still there; final_answer ends the run.
        "Thought: done.\n<code>\ntotal = apple * 3 + lookup_price('pear')\nfinal_answer(total)\nprint('never')\n</code>",
    ]

    class Scripted(Model):
        def __init__(self):
            super().__init__(model_id="scripted")
            self.seen = []

        def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kw):
            self.seen.append(messages)
            return ChatMessage(role=MessageRole.ASSISTANT, content=steps[len(self.seen) - 1])

    executor = StockadeExecutor(policy=POLICY)
    try:
        model = Scripted()
        agent = CodeAgent(tools=[lookup_price], model=model, executor=executor, max_steps=5)
        answer = agent.run("What do three apples and a pear cost?")
    finally:
        executor.cleanup()
    assert answer == 2.25
    assert calls == ["apple", "pear"]  # the tool ran here, on the host
    memory = [getattr(s, "observations", None) or "" for s in agent.memory.steps]
    text = "\n".join(str(m) for m in memory)
    assert "apple 0.5" in text and "refused PolicyViolation" in text
    errors = [str(getattr(s, "error", "") or "") for s in agent.memory.steps]
    assert any("undefined_name" in e for e in errors), errors
    assert "never" not in text
    assert smolagents.__version__


# ----- LangChain -----


def test_langchain_tool_invocation_runs_in_stockade():
    pytest.importorskip("langchain_core")
    from langchain_core.messages import ToolMessage

    from stockade.integrations.langchain import StockadePythonTool

    tool = StockadePythonTool(policy=POLICY)
    assert tool.invoke({"code": "print('hi')\nsum(range(10))"}) == "hi\n45"
    # As a tool call from a model: a ToolMessage with the whole result as its artifact.
    msg = tool.invoke({"name": "python", "args": {"code": "open('/etc/shadow').read()"}, "id": "call-1",
                       "type": "tool_call"})
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == "call-1"
    assert "PolicyViolation" in msg.content and msg.artifact["status"] == "error"
    # With a session, state persists between calls.
    stateful = StockadePythonTool(policy=POLICY, session=True)
    try:
        stateful.invoke({"code": "x = 20"})
        assert stateful.invoke({"code": "x + 22"}) == "42"
    finally:
        stateful.close()


# ----- pydantic-ai -----


def test_pydantic_ai_agent_calls_the_tool_and_reads_its_output():
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import FunctionModel

    from stockade.integrations.pydantic_ai import python_tool

    def model(messages, info):
        returns = [p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)]
        if not returns:
            return ModelResponse(parts=[ToolCallPart("run_python", {"code": "import math\nmath.factorial(10)"})])
        return ModelResponse(parts=[TextPart(f"the sandbox said {returns[-1].content}")])

    agent = Agent(FunctionModel(model), tools=[python_tool(policy=POLICY)])
    out = agent.run_sync("What is 10 factorial?")
    assert out.output == "the sandbox said 3628800"
    # pydantic-ai's own test model calls every tool with made-up arguments: a clear error comes
    # back, not a crash.
    from pydantic_ai.models.test import TestModel

    agent = Agent(TestModel(), tools=[python_tool(policy=POLICY)])
    assert "run_python" in agent.run_sync("go").output


# ----- pydantic-monty's host API -----

MONTY_CODE = "total = 0\nfor i in range(3):\n    total = total + fetch(i, scale=10)\ntotal"


def monty_host(session, snapshot_type, complete_type):
    """A host written for pydantic-monty: drives a snippet's external calls by hand, then lets
    feed_run drive them from a lookup. It never names stockade."""
    seen = []

    def fetch(i, scale=1):
        seen.append(i)
        return i * scale

    progress = session.feed_start(MONTY_CODE, external_lookup={"fetch": fetch})
    while isinstance(progress, snapshot_type):
        assert progress.function_name == "fetch"
        progress = progress.resume({"return_value": fetch(*progress.args, **progress.kwargs)})
    assert isinstance(progress, complete_type)
    first = progress.output
    second = session.feed_run("fetch(5, scale=2) + total", external_lookup={"fetch": fetch})

    def fails(x):
        raise ValueError("no " + str(x))

    third = session.feed_run("try:\n    fails(1)\nexcept ValueError as e:\n    r = str(e)\nr",
                             external_lookup={"fails": fails})
    return first, second, third, seen


def test_a_pydantic_monty_host_runs_unchanged_on_stockade():
    pm = pytest.importorskip("pydantic_monty")
    from stockade.integrations import monty as shim

    with pm.Monty(min_processes=1, max_processes=1) as pool:
        with pool.checkout() as real:
            expected = monty_host(real, pm.FunctionSnapshot, pm.MontyComplete)
    with shim.MontySession(policy=POLICY) as s:
        got = monty_host(s, shim.FunctionSnapshot, shim.MontyComplete)
    assert got == expected == (30, 40, "no 1", [0, 1, 2, 5])
